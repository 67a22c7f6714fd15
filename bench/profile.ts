/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) into self time per place:
 * each npm package, Gatehouse's own source, node's internals, and V8's
 * (garbage collection, idle, the program itself). Run alone with
 * `npx tsx bench/profile.ts FILE.cpuprofile`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function placeOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:internal/')) return `node:internal/${url.slice(14).split('/')[0]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  if (url.includes('/src/')) return `gatehouse ${url.slice(url.indexOf('/src/') + 1)}`;
  return url;
}

export function summariseProfile(file: string, top = 25): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const places = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, time] of self) {
    const node = byId.get(id)!;
    const place = placeOf(node);
    places.set(place, (places.get(place) ?? 0) + time);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${place}`;
    functions.set(fn, (functions.get(fn) ?? 0) + time);
  }
  const busy = total - (places.get('(idle)') ?? 0);
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `| ${k} | ${((v / busy) * 100).toFixed(1)} % |`)
      .join('\n');
  return [
    `CPU profile ${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((busy / total) * 100).toFixed(0)} % busy; shares of busy time (self):`,
    '',
    '| Place | Self |',
    '| --- | ---: |',
    list(new Map([...places].filter(([k]) => k !== '(idle)'))),
    '',
    '| Function | Self |',
    '| --- | ---: |',
    list(new Map([...functions].filter(([k]) => !k.startsWith('(idle)')))),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tsx bench/profile.ts FILE.cpuprofile');
  process.stdout.write(`${summariseProfile(file)}\n`);
}
