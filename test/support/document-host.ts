/**
 * A real HTTPS server on loopback under a test CA, for what Gatehouse fetches on
 * a client's say-so (Client ID Metadata Documents). Gatehouse reaches it by name
 * through GATEHOUSE_TEST_OUTBOUND_RESOLVE (name → 127.0.0.1) and trusts its CA
 * through GATEHOUSE_TEST_OUTBOUND_CA_FILE; both are test-only settings that
 * production refuses. Each path's answer can change between requests, and every
 * request is counted, so a test can tell whether a fetch left the guards.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createCertificateAuthority, issueCertificate } from '../../src/tls/pki.js';

export interface DocumentAnswer {
  status?: number;
  headers?: Record<string, string>;
  body: string;
  /** Milliseconds to wait before answering (a slow host). */
  delayMs?: number;
}

export interface DocumentHost {
  port: number;
  caFile: string;
  /** `https://<name>:<port><path>` */
  url(name: string, pathname: string): string;
  serve(pathname: string, answer: DocumentAnswer | ((request: number) => DocumentAnswer)): void;
  /** Requests seen per path (any host name). */
  hits(pathname: string): number;
  close(): Promise<void>;
}

export async function startDocumentHost(names: string[]): Promise<DocumentHost> {
  const ca = await createCertificateAuthority('CN=Gatehouse test documents CA');
  const leaf = await issueCertificate({ subject: `CN=${names[0]}`, usage: 'server', issuer: ca, altNames: { dns: names } });
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-documents-'));
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, ca.certificatePem);
  const answers = new Map<string, (request: number) => DocumentAnswer>();
  const counts = new Map<string, number>();
  const server: Server = createServer({ cert: leaf.certificatePem, key: leaf.privateKeyPem }, (req, res) => {
    const pathname = new URL(req.url ?? '/', 'https://x').pathname;
    const count = (counts.get(pathname) ?? 0) + 1;
    counts.set(pathname, count);
    const answer = answers.get(pathname)?.(count) ?? { status: 404, body: 'not found' };
    const send = () => {
      if (res.destroyed) return;
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body);
    };
    if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    caFile,
    url: (name, pathname) => `https://${name}:${port}${pathname}`,
    serve(pathname, answer) {
      answers.set(pathname, typeof answer === 'function' ? answer : () => answer);
    },
    hits: (pathname) => counts.get(pathname) ?? 0,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
