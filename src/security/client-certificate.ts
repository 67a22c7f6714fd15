/**
 * Where a request's client certificate comes from (RFC 8705): the TLS
 * connection itself when Gatehouse terminates mTLS, or a header set by a
 * TLS-terminating reverse proxy, believed only from the operator's proxies.
 * A certificate header from anyone else is ignored and reported: it is
 * someone trying to claim a certificate they do not hold.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

import type { Context } from 'koa';

import { normalizeAddress } from './client-ip.js';

export interface CertificateSourceOptions {
  /** Lower-case header name the proxy writes the certificate to; undefined: header mode off. */
  proxyHeader: string | undefined;
  isTrustedProxy: (address: string) => boolean;
  onUntrustedHeader: (peer: string) => void;
}

/**
 * Header value → certificate. RFC 9440 `Client-Cert` is a structured-field
 * byte sequence (`:base64 DER:`); nginx's `$ssl_client_escaped_cert` is a
 * URL-encoded PEM. Anything else is no certificate at all.
 */
export function parseCertificateHeader(value: string): X509Certificate | undefined {
  const trimmed = value.trim();
  try {
    const sf = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(trimmed);
    if (sf) return new X509Certificate(Buffer.from(sf[1]!, 'base64'));
    const pem = decodeURIComponent(trimmed);
    if (pem.startsWith('-----BEGIN CERTIFICATE-----')) return new X509Certificate(pem);
  } catch {
    return undefined;
  }
  return undefined;
}

const cache = new WeakMap<Context, X509Certificate | null>();

export function createCertificateSource(options: CertificateSourceOptions) {
  function fromRequest(ctx: Context): X509Certificate | undefined {
    const socket = ctx.req.socket as Partial<TLSSocket>;
    if (socket.encrypted && typeof socket.getPeerX509Certificate === 'function') {
      const certificate = socket.getPeerX509Certificate();
      if (certificate) return certificate;
    }
    if (!options.proxyHeader) return undefined;
    const header = ctx.get(options.proxyHeader);
    if (!header) return undefined;
    const peer = normalizeAddress(ctx.req.socket.remoteAddress ?? '');
    if (!options.isTrustedProxy(peer)) {
      options.onUntrustedHeader(peer);
      return undefined;
    }
    return parseCertificateHeader(header);
  }

  return {
    /** The request's client certificate, parsed once per request. */
    certificate(ctx: Context): X509Certificate | undefined {
      if (!cache.has(ctx)) cache.set(ctx, fromRequest(ctx) ?? null);
      return cache.get(ctx) ?? undefined;
    },
  };
}

export type CertificateSource = ReturnType<typeof createCertificateSource>;
