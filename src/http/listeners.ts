/**
 * The sockets Gatehouse answers on: the main listener (HTTP, or HTTPS when
 * the operator gives it a certificate) and the mutual-TLS listener for the
 * RFC 8705 endpoint aliases. Both hand every request to the same provider
 * handle. The mTLS listener asks for a client certificate but never fails the
 * handshake over it (none, or self-signed, is the token endpoint's call to
 * make, with a proper OAuth error), and browsers never meet it: only the
 * aliases in discovery point there. With GATEHOUSE_ADMIN_PORT a third
 * listener, with the main listener's TLS, serves only /admin/v1 (the edge
 * keeps each listener to its own routes: src/http/listener-scope.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import type { Logger } from 'pino';

import type { Config } from '../config/index.js';
import { developmentTls } from '../tls/development.js';
import { onAdminListener } from './listener-scope.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Listeners {
  main: Server;
  mtls: Server | undefined;
  admin: Server | undefined;
  url: string;
  mtlsUrl: string | undefined;
  adminUrl: string | undefined;
  /** Stops accepting, lets in-flight requests finish for up to boundMs, then cuts what is left. */
  close(boundMs: number): Promise<void>;
}

const urlFor = (scheme: string, host: string, server: Server) =>
  `${scheme}://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;

function harden(server: Server, log: Logger): Server {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerMalformed(error, socket, log));
  return server;
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function mtlsCertificate(config: Config, log: Logger): Promise<{ cert: string; key: string }> {
  const { certFile, keyFile } = config.mtls;
  if (certFile && keyFile) return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  const dev = await developmentTls(config.dataDir, [new URL(config.issuer).hostname]);
  if (dev.created) log.warn({ directory: dev.directory }, 'DEVELOPMENT TLS certificate generated for the mTLS listener (trust dev-ca.pem in clients); set GATEHOUSE_MTLS_CERT_FILE/KEY_FILE for anything but local development');
  return { cert: dev.certificatePem, key: dev.privateKeyPem };
}

export async function startListeners(config: Config, handler: Handler, log: Logger): Promise<Listeners> {
  const tls = config.tls ? { cert: await readFile(config.tls.certFile, 'utf8'), key: await readFile(config.tls.keyFile, 'utf8') } : undefined;
  const main = harden(tls ? createHttpsServer(tls, handler) : createHttpServer(handler), log);
  await listen(main, config.port, config.host);

  let mtls: Server | undefined;
  if (config.mtls.port !== undefined) {
    mtls = harden(createHttpsServer({ ...(await mtlsCertificate(config, log)), requestCert: true, rejectUnauthorized: false }, handler), log);
    // A connection keeps the client certificate it began with (TLS 1.2 renegotiation could swap it),
    // so it is checked once per connection, not once per request (src/http/client-certificate.ts).
    mtls.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
    try {
      await listen(mtls, config.mtls.port, config.mtls.host);
    } catch (error) {
      main.close();
      throw error;
    }
  }

  let admin: Server | undefined;
  if (config.admin.enabled && config.admin.port !== undefined) {
    const adminHandler = onAdminListener(handler);
    admin = harden(tls ? createHttpsServer(tls, adminHandler) : createHttpServer(adminHandler), log);
    try {
      await listen(admin, config.admin.port, config.admin.host);
    } catch (error) {
      main.close();
      mtls?.close();
      throw error;
    }
  }

  const servers = [main, ...(mtls ? [mtls] : []), ...(admin ? [admin] : [])];
  return {
    main,
    mtls,
    admin,
    url: urlFor(tls ? 'https' : 'http', config.host, main),
    mtlsUrl: mtls ? urlFor('https', config.mtls.host, mtls) : undefined,
    adminUrl: admin ? urlFor(tls ? 'https' : 'http', config.admin.host, admin) : undefined,
    async close(boundMs) {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              // A request that began before close() is answered without `Connection: close`, so its
              // kept-alive socket turns idle afterwards: sweep those too, or every shutdown under a
              // proxy's keep-alive pool would wait out the whole bound.
              const sweep = setInterval(() => server.closeIdleConnections(), 50);
              server.close(() => {
                clearInterval(sweep);
                resolve();
              });
              server.closeIdleConnections();
              setTimeout(() => server.closeAllConnections(), boundMs).unref();
            }),
        ),
      );
    },
  };
}

/**
 * Requests Node's HTTP parser rejects never reach koa; they still get a
 * request id that is in the log, and a plain JSON error.
 */
function answerMalformed(error: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  log.warn({ requestId, parserError: error.code, status: tooLarge ? 431 : 400 }, 'malformed HTTP request');
  const body = JSON.stringify({ error: 'invalid_request', error_description: tooLarge ? 'The request headers are too large.' : 'The request is not valid HTTP.' });
  socket.end(
    `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Cache-Control: no-store\r\nX-Request-Id: ${requestId}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
