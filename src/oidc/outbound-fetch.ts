/**
 * The fetch Gatehouse uses for URLs a client names about itself (Client ID
 * Metadata Documents): server-side request forgery is the attack, so
 *   - the host name is resolved here, every answer is checked, and a name with
 *     any special-use answer (loopback, private RFC 1918, CGNAT, link-local,
 *     multicast, ULA, documentation and reserved ranges) is refused before a
 *     connection is opened;
 *   - the socket connects to the address that was checked (the connector's
 *     `lookup` returns it), so a second DNS answer cannot swap in another
 *     (DNS rebinding); TLS still verifies the certificate for the host name;
 *   - redirects are not followed (the library asks for `redirect: 'manual'`
 *     and refuses anything but 200), the time is bounded here and the size by
 *     the library's `fetchResponseBodyLimits`.
 * The library's own guard (lib/helpers/fetch_request.js, oidc-provider 9.13)
 * checks the peer only after connecting; this one never connects.
 */
import { readFileSync } from 'node:fs';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { rootCertificates } from 'node:tls';

import { Agent, fetch as undiciFetch } from 'undici';

const specialUse = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) specialUse.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
  ['2002::', 16], ['3fff::', 20], ['5f00::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) specialUse.addSubnet(network, prefix, 'ipv6');

/** Whether `address` is one a fetch on a client's say-so must never reach. */
export function isSpecialUseAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  // IPv4-mapped (::ffff:a.b.c.d) is judged as the IPv4 address it carries; BlockList would match a ::ffff:0:0/96 rule against every IPv4 address.
  if (mapped) return isSpecialUseAddress(mapped[1]!);
  const mappedHex = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (mappedHex) {
    const [high, low] = [parseInt(mappedHex[1]!, 16), parseInt(mappedHex[2]!, 16)];
    return isSpecialUseAddress(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  return specialUse.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class OutboundRefused extends Error {}

export interface OutboundOptions {
  timeoutMs: number;
  /** Tests only (refused in production by the settings checks and again here): fixed DNS answers; loopback ones pass. */
  testResolve?: ReadonlyMap<string, string> | undefined;
  /** Tests only: a PEM CA trusted in addition to the system roots. */
  testCaFile?: string | undefined;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** The connector's resolver: checks every answer, hands back the one it checked. */
function guardedLookup(testResolve: ReadonlyMap<string, string> | undefined) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    const answer = (address: string) => {
      const family = isIP(address);
      if (options.all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const fixed = testResolve?.get(hostname.toLowerCase());
    if (fixed !== undefined) {
      const loopback = fixed === '::1' || fixed.startsWith('127.');
      if (!loopback && isSpecialUseAddress(fixed)) return callback(new OutboundRefused(`${hostname} resolves to a special-use address`), []);
      return answer(fixed);
    }
    if (isIP(hostname) !== 0) {
      return isSpecialUseAddress(hostname) ? callback(new OutboundRefused(`${hostname} is a special-use address`), []) : answer(hostname);
    }
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, []);
      // Any special-use answer refuses the name: which one a later connection would pick is not ours to guess.
      if (addresses.length === 0 || addresses.some((a) => isSpecialUseAddress(a.address))) {
        return callback(new OutboundRefused(`${hostname} resolves to a special-use address`), []);
      }
      answer(addresses[0]!.address);
    });
  };
}

export type OutboundFetch = (url: string | URL, init: RequestInit) => Promise<Response>;

export function createOutboundFetch(options: OutboundOptions): OutboundFetch {
  if ((options.testResolve || options.testCaFile) && process.env.NODE_ENV === 'production') {
    throw new Error('the outbound address guard\'s test overrides cannot be used with NODE_ENV=production');
  }
  const ca = options.testCaFile ? [...rootCertificates, readFileSync(options.testCaFile, 'utf8')] : undefined;
  const agent = new Agent({
    connect: { lookup: guardedLookup(options.testResolve) as never, timeout: options.timeoutMs, ...(ca ? { ca } : {}) },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    // One request per connection: nothing reuses a socket across documents of different hosts.
    pipelining: 0,
  });
  return async (url, init) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') throw new OutboundRefused('only https is fetched');
    const signals = [AbortSignal.timeout(options.timeoutMs), ...(init.signal ? [init.signal] : [])];
    const { dispatcher: _ignored, ...rest } = init as RequestInit & { dispatcher?: unknown };
    const response = await undiciFetch(target, { ...(rest as object), redirect: 'manual', signal: AbortSignal.any(signals), dispatcher: agent });
    return response as unknown as Response;
  };
}
