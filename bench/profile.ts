/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) into self time per place:
 * each npm package, Gatehouse's own source, node's internals, and V8's
 * (garbage collection, idle, the program itself); and compares two profiles
 * per request served (Gatehouse against the raw library under the same
 * load), which shows what Gatehouse adds and where. Run alone with
 * `npx tsx bench/profile.ts FILE.cpuprofile` or
 * `npx tsx bench/profile.ts RAW.cpuprofile RAW_REQUESTS GATEHOUSE.cpuprofile GATEHOUSE_REQUESTS`.
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
  if (url.includes('/.bench-build/')) return `gatehouse ${url.slice(url.indexOf('/.bench-build/') + '/.bench-build/'.length)}`;
  if (url.includes('/src/')) return `gatehouse ${url.slice(url.indexOf('/src/') + 1)}`;
  return url;
}

/** Self time (µs) per place, idle excluded. */
function selfTimeByPlace(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const places = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const place = placeOf(byId.get(id)!);
    places.set(place, (places.get(place) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  places.delete('(idle)');
  return places;
}

/**
 * µs of main-thread time per request served, by place, for the raw library
 * and for Gatehouse, largest difference first. Both processes' whole lives
 * are profiled, so start-up (module loading) is in the figures of both; it is
 * small against tens of thousands of requests and shows up under its own
 * places (node:internal/modules).
 */
export function compareProfiles(raw: { file: string; requests: number }, gatehouse: { file: string; requests: number }, top = 30): string {
  const perRequest = (side: { file: string; requests: number }) => {
    const places = selfTimeByPlace(JSON.parse(readFileSync(side.file, 'utf8')) as Profile);
    return new Map([...places].map(([k, v]) => [k, v / side.requests]));
  };
  const a = perRequest(raw);
  const b = perRequest(gatehouse);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  const rows = [...new Set([...a.keys(), ...b.keys()])]
    .map((place) => ({ place, raw: a.get(place) ?? 0, gatehouse: b.get(place) ?? 0 }))
    .sort((x, y) => y.gatehouse - y.raw - (x.gatehouse - x.raw))
    .slice(0, top);
  const f = (n: number) => n.toFixed(1);
  return [
    `Main-thread CPU per request served (µs): raw ${f(sum(a))} (${raw.requests} requests), Gatehouse ${f(sum(b))} (${gatehouse.requests} requests); largest differences:`,
    '',
    '| Place | raw µs | Gatehouse µs | Difference |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.place} | ${f(r.raw)} | ${f(r.gatehouse)} | ${f(r.gatehouse - r.raw)} |`),
  ].join('\n');
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
  const [file, requests, other, otherRequests] = process.argv.slice(2);
  if (!file) throw new Error('usage: tsx bench/profile.ts FILE.cpuprofile [REQUESTS OTHER.cpuprofile OTHER_REQUESTS]');
  if (other) process.stdout.write(`${compareProfiles({ file, requests: Number(requests) }, { file: other, requests: Number(otherRequests) })}\n`);
  else process.stdout.write(`${summariseProfile(file)}\n`);
}
