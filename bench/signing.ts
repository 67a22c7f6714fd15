/**
 * The signing ceiling: JWS signatures per second through jose (which signs
 * with WebCrypto, as oidc-provider does) for an access-token-sized payload,
 * pinned to one core (taskset) with 64 signatures in flight, so both the JS
 * thread and libuv's crypto threads share that core. No server issues signed
 * tokens faster than this per core.
 *
 *   taskset -c 0 node --import tsx bench/signing.ts   (prints JSON)
 */
import { spawnSync } from 'node:child_process';

import { generateKeyPair, SignJWT } from 'jose';

const inFlight = 64;

async function measure(alg: 'ES256' | 'RS256', seconds: number): Promise<number> {
  const { privateKey } = await generateKeyPair(alg);
  const payload = { iss: 'http://127.0.0.1:3000', sub: 'client', client_id: 'client', aud: 'https://api.bench.test', scope: 'read', jti: 'x'.repeat(43) };
  const sign = () => new SignJWT(payload).setProtectedHeader({ alg, typ: 'at+jwt', kid: 'k' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
  const batch = () => Promise.all(Array.from({ length: inFlight }, sign));
  for (let i = 0; i < 5; i += 1) await batch();
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    await batch();
    count += inFlight;
  }
  return count / ((performance.now() - started) / 1000);
}

/** Runs this file in a child pinned to one core (when taskset exists); returns signatures/s. */
export function signingCeiling(): { ES256: number; RS256: number; pinned: boolean } {
  const pinned = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  const file = new URL(import.meta.url).pathname;
  const command = pinned ? ['taskset', ['-c', '0', process.execPath, '--import', 'tsx', file]] : [process.execPath, ['--import', 'tsx', file]];
  const result = spawnSync(command[0] as string, command[1] as string[], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
  if (result.status !== 0) throw new Error(`signing benchmark failed: ${result.stderr}`);
  return { ...(JSON.parse(result.stdout) as { ES256: number; RS256: number }), pinned };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify({ ES256: await measure('ES256', 3), RS256: await measure('RS256', 3) })}\n`);
}
