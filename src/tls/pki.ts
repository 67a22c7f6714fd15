/**
 * Certificate issuance with @peculiar/x509: the development CA and server
 * certificate `npm start` creates, and the CA and client certificates the
 * test-suite creates at run time. Not for production PKI: operators bring
 * their own certificates there.
 */
import { randomBytes, webcrypto } from 'node:crypto';

// @peculiar/x509 resolves its parsers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 is typed against the DOM's Crypto; node's webcrypto is that API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface IssuedCertificate {
  certificatePem: string;
  privateKeyPem: string;
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface SubjectAltNames {
  dns?: string[];
  ip?: string[];
  email?: string[];
  uri?: string[];
}

async function keyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function privateKeyPem(keys: CryptoKeyPair): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey);
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
}

/**
 * Subjects are given as RFC 4514 strings (`CN=worker,O=Example`), which list
 * RDNs from the last one of the ASN.1 sequence (RFC 4514 §2.1); @peculiar/x509
 * reads a string in sequence order, so the list is reversed, giving the
 * certificate openssl would make from `-subj /O=Example/CN=worker`.
 */
const subjectName = (rfc4514: string) => new x509.Name(new x509.Name(rfc4514).toJSON().reverse());

const serial = () => randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');

function validity(days: number, startOffsetDays = 0) {
  const notBefore = new Date(Date.now() + startOffsetDays * 86_400_000 - 60_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000) };
}

export async function createCertificateAuthority(subject: string, options: { days?: number } = {}): Promise<IssuedCertificate> {
  const keys = await keyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subjectName(subject),
    ...validity(options.days ?? 3650),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys, certificatePem: certificate.toString('pem'), privateKeyPem: await privateKeyPem(keys) };
}

export async function issueCertificate(options: {
  subject: string;
  usage: 'server' | 'client';
  issuer?: IssuedCertificate;
  altNames?: SubjectAltNames;
  days?: number;
  /** Negative to issue an already-expired certificate (for tests). */
  startOffsetDays?: number;
}): Promise<IssuedCertificate> {
  const keys = await keyPair();
  const names = [
    ...(options.altNames?.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.altNames?.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(options.altNames?.email ?? []).map((value) => ({ type: 'email' as const, value })),
    ...(options.altNames?.uri ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([options.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const issuer = options.issuer;
  const certificate = issuer
    ? await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: subjectName(options.subject),
        issuer: issuer.certificate.subjectName,
        ...validity(options.days ?? 825, options.startOffsetDays),
        signingAlgorithm: algorithm,
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey as never,
        extensions: [...extensions, await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)],
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: subjectName(options.subject),
        ...validity(options.days ?? 825, options.startOffsetDays),
        signingAlgorithm: algorithm,
        keys,
        extensions,
      });
  return { certificate, keys, certificatePem: certificate.toString('pem'), privateKeyPem: await privateKeyPem(keys) };
}
