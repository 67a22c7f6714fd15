/**
 * Who the client is, network-wise. Forwarded headers are believed only when
 * the TCP peer is one of the operator's proxies (GATEHOUSE_TRUSTED_PROXIES);
 * then the client is the right-most X-Forwarded-For hop that is not a trusted
 * proxy. Taking the left-most hop instead (what a plain "trust proxy" switch
 * does) lets any client pick its own address, and with it a fresh rate-limit
 * budget on every request.
 */
import { BlockList, isIP } from 'node:net';

export interface PeerView {
  /** The client's address. */
  ip: string;
  /** True when the TCP peer is a trusted proxy, so its X-Forwarded-* and X-Request-Id headers count. */
  viaTrustedProxy: boolean;
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is 10.0.0.1. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

export function createClientAddress(trustedProxies: readonly string[]) {
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) trusted.addAddress(address, family);
    else trusted.addSubnet(address, Number(prefix), family);
  }
  const isTrusted = (address: string) => {
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };

  return {
    isTrusted,
    resolve(peerAddress: string | undefined, forwardedFor: string | undefined): PeerView {
      const peer = normalizeAddress(peerAddress ?? '');
      if (trustedProxies.length === 0 || !isTrusted(peer)) return { ip: peer, viaTrustedProxy: false };
      let client = peer;
      const hops = (forwardedFor ?? '').split(',').map((h) => normalizeAddress(h.trim())).filter(Boolean);
      for (let i = hops.length - 1; i >= 0; i -= 1) {
        const hop = hops[i]!;
        // Garbage can only have been written by the client, to the left of every real hop.
        if (isIP(hop) === 0) break;
        client = hop;
        if (!isTrusted(hop)) break;
      }
      return { ip: client, viaTrustedProxy: true };
    },
  };
}

export { addressBucket } from '../accounts/address-bucket.js';

export type ClientAddress = ReturnType<typeof createClientAddress>;

