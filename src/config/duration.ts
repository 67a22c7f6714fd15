const unitSeconds = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** "600", "90s", "15m", "12h", "30d" → seconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd])?$/.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? 's') as keyof typeof unitSeconds;
  return Number(match[1]) * unitSeconds[unit];
}
