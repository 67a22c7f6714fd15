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

/** Header values parsed lately: a proxy sends the same few client certificates over and over. */
const maxParsedHeaders = 1000;

/**
 * One X509Certificate object per connection (the mTLS listener disables
 * renegotiation, so a connection's certificate never changes) and per header
 * value, so the checks made on it (src/oidc/mtls.ts) can be remembered
 * against the object instead of redone on every request.
 */
export function createCertificateSource(options: CertificateSourceOptions) {
  const byConnection = new WeakMap<object, X509Certificate | null>();
  const byHeader = new Map<string, X509Certificate | null>();
  const byRequest = new WeakMap<Context, X509Certificate | null>();

  function fromHeader(header: string): X509Certificate | undefined {
    let certificate = byHeader.get(header);
    if (certificate === undefined) {
      if (byHeader.size >= maxParsedHeaders) byHeader.clear();
      certificate = parseCertificateHeader(header) ?? null;
      byHeader.set(header, certificate);
    }
    return certificate ?? undefined;
  }

  function fromRequest(ctx: Context): X509Certificate | undefined {
    const socket = ctx.req.socket as Partial<TLSSocket>;
    if (socket.encrypted && typeof socket.getPeerX509Certificate === 'function') {
      let certificate = byConnection.get(socket);
      if (certificate === undefined) {
        certificate = socket.getPeerX509Certificate() ?? null;
        byConnection.set(socket, certificate);
      }
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
    return fromHeader(header);
  }

  return {
    /** The request's client certificate: the same object for every request on a connection, or with the same header. */
    certificate(ctx: Context): X509Certificate | undefined {
      if (!byRequest.has(ctx)) byRequest.set(ctx, fromRequest(ctx) ?? null);
      return byRequest.get(ctx) ?? undefined;
    },
  };
}

export type CertificateSource = ReturnType<typeof createCertificateSource>;
