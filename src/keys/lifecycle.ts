/**
 * Pure key-lifecycle arithmetic: given the stored keys and a moment, which key
 * signs, which are only published, and when the answer next changes. No I/O,
 * so every node (and every test) gets the same answer for the same inputs.
 */
export interface KeyRecord {
  kid: string;
  alg: string;
  createdAt: Date;
  activateAt: Date;
  retiredAt: Date | null;
  revokedAt: Date | null;
}

export type KeyState = 'next' | 'active' | 'retired' | 'expired' | 'revoked';

export interface KeyStatus extends KeyRecord {
  state: KeyState;
  /** When it stopped (or will stop) signing; undefined while nothing supersedes it. */
  supersededAt: Date | undefined;
  /** When it leaves the JWKS: superseded + the longest lifetime of anything it signed. */
  unpublishAt: Date | undefined;
}

export function keyStatuses(records: readonly KeyRecord[], now: Date, retentionSeconds: number): KeyStatus[] {
  const byAlg = new Map<string, KeyRecord[]>();
  for (const r of records) byAlg.set(r.alg, [...(byAlg.get(r.alg) ?? []), r]);
  const statuses: KeyStatus[] = [];
  for (const keys of byAlg.values()) {
    const live = keys.filter((k) => !k.revokedAt || k.revokedAt > now).sort((a, b) => a.activateAt.getTime() - b.activateAt.getTime() || a.kid.localeCompare(b.kid));
    live.forEach((key, i) => {
      const successor = live[i + 1];
      const candidates = [key.retiredAt?.getTime(), successor && successor.activateAt <= now ? successor.activateAt.getTime() : undefined].filter((t): t is number => t !== undefined);
      const supersededAt = candidates.length ? new Date(Math.min(...candidates)) : undefined;
      const unpublishAt = supersededAt ? new Date(supersededAt.getTime() + retentionSeconds * 1000) : undefined;
      let state: KeyState;
      if (key.activateAt > now) state = 'next';
      else if (!supersededAt || supersededAt > now) state = 'active';
      else state = unpublishAt! > now ? 'retired' : 'expired';
      statuses.push({ ...key, state, supersededAt, unpublishAt });
    });
    for (const key of keys) {
      if (key.revokedAt && key.revokedAt <= now) statuses.push({ ...key, state: 'revoked', supersededAt: key.revokedAt, unpublishAt: key.revokedAt });
    }
  }
  return statuses.sort((a, b) => b.activateAt.getTime() - a.activateAt.getTime() || a.kid.localeCompare(b.kid));
}

/** The next instant at which any key changes state (an activation, an unpublication, a scheduled revocation). */
export function nextTransition(records: readonly KeyRecord[], now: Date, retentionSeconds: number): Date | undefined {
  const future: number[] = [];
  for (const s of keyStatuses(records, now, retentionSeconds)) {
    for (const t of [s.activateAt, s.unpublishAt, s.revokedAt, s.retiredAt]) {
      if (t && t > now) future.push(t.getTime());
    }
  }
  return future.length ? new Date(Math.min(...future)) : undefined;
}

export const isPublished = (s: KeyStatus) => s.state === 'next' || s.state === 'active' || s.state === 'retired';
