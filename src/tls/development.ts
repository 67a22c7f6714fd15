/**
 * `npm start` serves mTLS out of the box on localhost: the first start writes
 * a development CA and a server certificate for localhost into the data
 * directory (keys mode 0600), and later starts reuse them. Production refuses
 * this path (config.ts) and takes the operator's certificate files instead.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { createCertificateAuthority, issueCertificate } from './pki.js';

export interface TlsFiles {
  certificatePem: string;
  privateKeyPem: string;
  /** The development CA: what clients trust to verify the server certificate. */
  caPem: string;
  directory: string;
  created: boolean;
}

const readIfPresent = (file: string) => readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
  if (error.code === 'ENOENT') return undefined;
  throw error;
});

export async function developmentTls(dataDir: string, hostnames: readonly string[]): Promise<TlsFiles> {
  const directory = path.join(dataDir, 'tls');
  const files = {
    ca: path.join(directory, 'dev-ca.pem'),
    cert: path.join(directory, 'server.pem'),
    key: path.join(directory, 'server-key.pem'),
  };
  const [caPem, certificatePem, privateKeyPem] = await Promise.all([readIfPresent(files.ca), readIfPresent(files.cert), readIfPresent(files.key)]);
  if (caPem && certificatePem && privateKeyPem) return { caPem, certificatePem, privateKeyPem, directory, created: false };

  await mkdir(directory, { recursive: true, mode: 0o700 });
  const ca = await createCertificateAuthority('CN=Gatehouse Development CA,O=Gatehouse (development only)');
  const dns = [...new Set(['localhost', ...hostnames.filter((h) => !/^[\d.:]+$/.test(h))])];
  const server = await issueCertificate({ subject: 'CN=localhost', usage: 'server', issuer: ca, altNames: { dns, ip: ['127.0.0.1', '::1'] } });
  // The CA's private key is not kept: nothing more is ever issued under it, so
  // a copied data directory cannot mint certificates this CA vouches for.
  await writeFile(files.key, server.privateKeyPem, { mode: 0o600 });
  await writeFile(files.ca, ca.certificatePem, { mode: 0o644 });
  await writeFile(files.cert, `${server.certificatePem}\n${ca.certificatePem}`, { mode: 0o644 });
  return { caPem: ca.certificatePem, certificatePem: `${server.certificatePem}\n${ca.certificatePem}`, privateKeyPem: server.privateKeyPem, directory, created: true };
}
