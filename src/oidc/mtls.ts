/**
 * RFC 8705 for oidc-provider: `tls_client_auth` (a certificate from the
 * operator's CA whose subject DN or SAN matches the client's registration),
 * `self_signed_tls_client_auth` (a certificate in the client's registered
 * JWKS, checked by the library) and certificate-bound access tokens
 * (`cnf.x5t#S256`, added by the library). The library calls these hooks
 * synchronously, so chain checks use node's synchronous X509 API.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

// @peculiar/x509 resolves its parsers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { CertificateSource } from '../http/client-certificate.js';
import { canonicalCertificateName, canonicalDnString } from './distinguished-name.js';

/** Trust anchors and intermediates from the operator's CA bundle. */
export function createTrustStore(bundlePem: string | undefined) {
  const authorities = (bundlePem?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
  const current = (c: X509Certificate, now: number) => new Date(c.validFrom).getTime() <= now && now <= new Date(c.validTo).getTime();

  /** The leaf and the CA certificates it chains through to a self-signed one in the bundle, or null. */
  function chainOf(leaf: X509Certificate): X509Certificate[] | null {
    if (leaf.ca) return null;
    const chain = [leaf];
    let cert = leaf;
    for (let depth = 0; depth < 6; depth += 1) {
      const issuer = authorities.find((a) => a.ca && cert.checkIssued(a) && cert.verify(a.publicKey));
      if (!issuer) return null;
      chain.push(issuer);
      if (issuer.checkIssued(issuer) && issuer.verify(issuer.publicKey)) return chain;
      cert = issuer;
    }
    return null;
  }
  // Signature checks are the cost; a certificate object is one connection's (or one header value's),
  // so its chain is worked out once. Validity periods are still checked on every call.
  const chains = new WeakMap<X509Certificate, X509Certificate[] | null>();

  return {
    size: authorities.length,
    /** True when the certificate chains, through valid CA certificates in the bundle, to a self-signed one in it. */
    verify(leaf: X509Certificate, now = Date.now()): boolean {
      let chain = chains.get(leaf);
      if (chain === undefined) {
        chain = chainOf(leaf);
        chains.set(leaf, chain);
      }
      return chain !== null && chain.every((c) => current(c, now));
    },
  };
}

export type TrustStore = ReturnType<typeof createTrustStore>;

/**
 * What the subject checks read from a certificate, parsed once per certificate
 * object: the ASN.1 parse is most of an mTLS token request's cost otherwise.
 */
interface CertificateNames {
  subjectDn: string | undefined;
  alternativeNames: Array<{ type: string; value: string }>;
}
const namesOf = new WeakMap<X509Certificate, CertificateNames>();

function certificateNames(certificate: X509Certificate): CertificateNames {
  let names = namesOf.get(certificate);
  if (!names) {
    const parsed = new x509.X509Certificate(certificate.raw);
    names = {
      subjectDn: canonicalCertificateName(parsed.subjectName),
      alternativeNames: parsed.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [],
    };
    namesOf.set(certificate, names);
  }
  return names;
}

/** Registered DNs in canonical form; a client's registration rarely changes, and parsing one is not cheap. */
const canonicalExpectedDns = new Map<string, string | undefined>();
function canonicalExpectedDn(dn: string): string | undefined {
  if (!canonicalExpectedDns.has(dn)) {
    if (canonicalExpectedDns.size >= 1000) canonicalExpectedDns.clear();
    canonicalExpectedDns.set(dn, canonicalDnString(dn));
  }
  return canonicalExpectedDns.get(dn);
}

function sanMatches(certificate: X509Certificate, property: string, expected: string): boolean {
  const names = certificateNames(certificate).alternativeNames;
  const values = (type: string) => names.filter((n) => n.type === type).map((n) => n.value);
  switch (property) {
    case 'tls_client_auth_san_dns':
      return values('dns').some((v) => v.toLowerCase() === expected.toLowerCase());
    case 'tls_client_auth_san_uri':
      return values('url').includes(expected);
    case 'tls_client_auth_san_email':
      return values('email').some((v) => v.toLowerCase() === expected.toLowerCase());
    case 'tls_client_auth_san_ip':
      return canonicalIp(expected) !== undefined && values('ip').some((v) => canonicalIp(v) === canonicalIp(expected));
    default:
      return false;
  }
}

/** IPv6 has many spellings of one address; the WHATWG URL parser prints the canonical one. */
function canonicalIp(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family === 6) return new URL(`http://[${ip}]`).hostname;
  return undefined;
}

export function subjectMatches(certificate: X509Certificate, property: string, expected: string): boolean {
  if (property === 'tls_client_auth_subject_dn') {
    const want = canonicalExpectedDn(expected);
    return want !== undefined && want === certificateNames(certificate).subjectDn;
  }
  return sanMatches(certificate, property, expected);
}

export function mtlsFeature(source: CertificateSource, trust: TrustStore) {
  return {
    enabled: true,
    certificateBoundAccessTokens: true,
    selfSignedTlsClientAuth: true,
    tlsClientAuth: true,
    getCertificate: (ctx: KoaContextWithOIDC) => source.certificate(ctx),
    certificateAuthorized(ctx: KoaContextWithOIDC) {
      const certificate = source.certificate(ctx);
      return certificate !== undefined && trust.verify(certificate);
    },
    certificateSubjectMatches(ctx: KoaContextWithOIDC, property: string, expected: string) {
      const certificate = source.certificate(ctx);
      return certificate !== undefined && subjectMatches(certificate, property, expected);
    },
  };
}
