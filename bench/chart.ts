/** Latency versus offered load as a self-contained SVG (no external service, no library). */
export interface CurvePoint {
  offered: number;
  achieved: number;
  p50: number;
  p99: number;
}

export interface Curve {
  label: string;
  points: CurvePoint[];
}

const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function latencyChart(title: string, curves: Curve[]): string {
  const width = 760;
  const height = 440;
  const m = { left: 70, right: 200, top: 40, bottom: 55 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const all = curves.flatMap((c) => c.points);
  const maxX = niceCeil(Math.max(1, ...all.map((p) => p.offered)));
  const maxY = niceCeil(Math.max(1, ...all.map((p) => p.p99)));
  const x = (v: number) => m.left + (v / maxX) * w;
  const y = (v: number) => m.top + h - (Math.min(v, maxY) / maxY) * h;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(`<text x="${m.left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`);
  for (let i = 0; i <= 5; i += 1) {
    const vx = (maxX / 5) * i;
    const vy = (maxY / 5) * i;
    parts.push(`<line x1="${x(vx)}" y1="${m.top}" x2="${x(vx)}" y2="${m.top + h}" stroke="#eee"/>`);
    parts.push(`<line x1="${m.left}" y1="${y(vy)}" x2="${m.left + w}" y2="${y(vy)}" stroke="#eee"/>`);
    parts.push(`<text x="${x(vx)}" y="${m.top + h + 18}" text-anchor="middle">${Math.round(vx)}</text>`);
    parts.push(`<text x="${m.left - 8}" y="${y(vy) + 4}" text-anchor="end">${+vy.toFixed(1)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.left + w / 2}" y="${height - 12}" text-anchor="middle">offered load (requests/s)</text>`);
  parts.push(`<text transform="translate(18 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`);
  curves.forEach((curve, i) => {
    const colour = colours[i % colours.length]!;
    for (const [key, dash] of [['p50', ''], ['p99', '6 4']] as const) {
      const d = curve.points.map((p, j) => `${j ? 'L' : 'M'}${x(p.offered).toFixed(1)} ${y(p[key]).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
      for (const p of curve.points) parts.push(`<circle cx="${x(p.offered).toFixed(1)}" cy="${y(p[key]).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
    const ly = m.top + 10 + i * 40;
    parts.push(`<line x1="${m.left + w + 15}" y1="${ly}" x2="${m.left + w + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"/><text x="${m.left + w + 45}" y="${ly + 4}">${escape(curve.label)} p50</text>`);
    parts.push(`<line x1="${m.left + w + 15}" y1="${ly + 16}" x2="${m.left + w + 40}" y2="${ly + 16}" stroke="${colour}" stroke-width="2" stroke-dasharray="6 4"/><text x="${m.left + w + 45}" y="${ly + 20}">${escape(curve.label)} p99</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceCeil(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}
