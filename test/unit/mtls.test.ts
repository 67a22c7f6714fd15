import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { canonicalDnString } from '../../src/oidc/distinguished-name.js';
import { createTrustStore, subjectMatches } from '../../src/oidc/mtls.js';
import { parseCertificateHeader } from '../../src/http/client-certificate.js';
import { createCertificateAuthority, issueCertificate, type IssuedCertificate } from '../../src/tls/pki.js';

describe('mTLS certificate checks', () => {
  let ca: IssuedCertificate;
  let otherCa: IssuedCertificate;
  let client: IssuedCertificate;

  beforeAll(async () => {
    ca = await createCertificateAuthority('CN=Test Client CA,O=Gatehouse Tests');
    otherCa = await createCertificateAuthority('CN=Someone Else');
    client = await issueCertificate({
      subject: 'CN=billing-worker,OU=Payments,O=Example Corp,C=GB',
      usage: 'client',
      issuer: ca,
      altNames: { dns: ['worker.example.com'], ip: ['2001:db8::1', '192.0.2.7'], email: ['ops@example.com'], uri: ['spiffe://example.com/billing'] },
    });
  });

  it('trusts a certificate issued by the bundle CA, and nothing else', async () => {
    const trust = createTrustStore(ca.certificatePem);
    expect(trust.verify(new X509Certificate(client.certificatePem))).toBe(true);
    expect(createTrustStore(otherCa.certificatePem).verify(new X509Certificate(client.certificatePem))).toBe(false);
    expect(createTrustStore(undefined).verify(new X509Certificate(client.certificatePem))).toBe(false);
    const selfSigned = await issueCertificate({ subject: 'CN=billing-worker,OU=Payments,O=Example Corp,C=GB', usage: 'client' });
    expect(trust.verify(new X509Certificate(selfSigned.certificatePem))).toBe(false);
    const expired = await issueCertificate({ subject: 'CN=old', usage: 'client', issuer: ca, days: 1, startOffsetDays: -30 });
    expect(trust.verify(new X509Certificate(expired.certificatePem))).toBe(false);
    expect(trust.verify(new X509Certificate(ca.certificatePem))).toBe(false); // a CA is not a client
  });

  it('remembers a certificate\'s chain but checks every validity period on each call', () => {
    const trust = createTrustStore(ca.certificatePem);
    const leaf = new X509Certificate(client.certificatePem);
    expect(trust.verify(leaf)).toBe(true);
    // The same object later: the chain is remembered, the clock is not.
    expect(trust.verify(leaf, new Date(leaf.validTo).getTime() + 1000)).toBe(false);
    expect(trust.verify(leaf, new Date(leaf.validFrom).getTime() - 1000)).toBe(false);
    expect(trust.verify(leaf)).toBe(true);
    // Past the CA's own end (10 years) the leaf's period alone would not do.
    const caEnd = new Date(new X509Certificate(ca.certificatePem).validTo).getTime();
    expect(trust.verify(leaf, caEnd + 1000)).toBe(false);
  });

  it('compares subject DNs per RFC 4514: order matters, case, spacing and aliases do not', () => {
    const cert = new X509Certificate(client.certificatePem);
    expect(subjectMatches(cert, 'tls_client_auth_subject_dn', 'CN=billing-worker,OU=Payments,O=Example Corp,C=GB')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_subject_dn', 'cn=Billing-Worker, ou=payments,  o=Example  Corp, c=gb')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_subject_dn', '2.5.4.3=billing-worker,OU=Payments,O=Example Corp,C=GB')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_subject_dn', 'C=GB,O=Example Corp,OU=Payments,CN=billing-worker')).toBe(false);
    expect(subjectMatches(cert, 'tls_client_auth_subject_dn', 'CN=billing-worker,OU=Payments,O=Example Corp')).toBe(false);
    expect(subjectMatches(cert, 'tls_client_auth_subject_dn', 'CN=billing-workers,OU=Payments,O=Example Corp,C=GB')).toBe(false);
    expect(canonicalDnString('not a dn at all')).toBeUndefined();
  });

  describe('with certificates made by the openssl command line', () => {
    let dir: string;
    /** A self-signed certificate from `openssl req -subj`, and the RFC 4514 string openssl prints for it. */
    const opensslCertificate = (subj: string, multivalue = false) => {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', subj, ...(multivalue ? ['-multivalue-rdn'] : [])], { stdio: 'pipe' });
      const rfc4514 = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-subject', '-nameopt', 'RFC2253'], { encoding: 'utf8' }).trim().replace(/^subject=\s*/, '');
      return { certificate: new X509Certificate(readFileSync(cert)), rfc4514 };
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'gatehouse-dn-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('matches /O=Example/CN=partner as CN=partner,O=Example (RFC 4514 §2.1 order), not the sequence order', () => {
      const { certificate, rfc4514 } = opensslCertificate('/O=Example/CN=partner');
      expect(rfc4514).toBe('CN=partner,O=Example');
      const matches = (dn: string) => subjectMatches(certificate, 'tls_client_auth_subject_dn', dn);
      expect(matches('CN=partner,O=Example')).toBe(true);
      expect(matches('cn=PARTNER , o = example')).toBe(true);
      expect(matches('2.5.4.3=partner,2.5.4.10=Example')).toBe(true);
      expect(matches('O=Example,CN=partner')).toBe(false);
      expect(matches('CN=partner')).toBe(false);
      expect(matches('CN=partner,O=Example,C=GB')).toBe(false);
    });

    it('unescapes values and compares multi-valued RDNs as sets', () => {
      const { certificate, rfc4514 } = opensslCertificate('/C=GB/O=Example, Inc./OU=Ops+CN=partner', true);
      expect(rfc4514).toMatch(/^(CN=partner\+OU=Ops|OU=Ops\+CN=partner),O=Example\\, Inc\.,C=GB$/);
      const matches = (dn: string) => subjectMatches(certificate, 'tls_client_auth_subject_dn', dn);
      expect(matches(rfc4514)).toBe(true);
      expect(matches('OU=Ops+CN=partner,O=Example\\, Inc.,C=GB')).toBe(true);
      expect(matches('CN=partner+OU=Ops,O=Example\\2C Inc.,C=GB')).toBe(true);
      expect(matches('CN=partner+OU=Ops,O="Example, Inc.",C=GB')).toBe(true);
      expect(matches('CN=#0c07706172746e6572+OU=Ops,O=Example\\, Inc.,C=GB')).toBe(true);
      // An escaped separator is part of a value, never a separator.
      expect(matches('CN=partner+OU=Ops,O=Example, Inc.,C=GB')).toBe(false);
      expect(matches('CN=partner,OU=Ops,O=Example\\, Inc.,C=GB')).toBe(false);
    });

    it('keeps an escaped comma from reading as an RDN boundary', () => {
      const { certificate } = opensslCertificate('/O=b/CN=a');
      expect(subjectMatches(certificate, 'tls_client_auth_subject_dn', 'CN=a,O=b')).toBe(true);
      expect(subjectMatches(certificate, 'tls_client_auth_subject_dn', 'CN=a\\,O=b')).toBe(false);
    });
  });

  it('matches each SAN type exactly as registered', () => {
    const cert = new X509Certificate(client.certificatePem);
    expect(subjectMatches(cert, 'tls_client_auth_san_dns', 'WORKER.example.com')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_san_dns', 'evil.example.com')).toBe(false);
    expect(subjectMatches(cert, 'tls_client_auth_san_ip', '2001:0db8:0000::0001')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_san_ip', '192.0.2.7')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_san_ip', '192.0.2.8')).toBe(false);
    expect(subjectMatches(cert, 'tls_client_auth_san_email', 'ops@example.com')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_san_uri', 'spiffe://example.com/billing')).toBe(true);
    expect(subjectMatches(cert, 'tls_client_auth_san_uri', 'spiffe://example.com/billing/x')).toBe(false);
  });

  it('parses RFC 9440 and nginx certificate headers, and nothing else', () => {
    const der = new X509Certificate(client.certificatePem).raw.toString('base64');
    expect(parseCertificateHeader(`:${der}:`)?.fingerprint256).toBe(new X509Certificate(client.certificatePem).fingerprint256);
    expect(parseCertificateHeader(encodeURIComponent(client.certificatePem))?.subject).toContain('CN=billing-worker');
    for (const junk of ['', ':not base64!:', `:${der.slice(0, 40)}:`, 'hello', encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), '%E0%A4%A']) {
      expect(parseCertificateHeader(junk)).toBeUndefined();
    }
  });
});
