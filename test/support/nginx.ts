/**
 * A real nginx (the Debian package) as a child process, for tests of
 * Gatehouse behind a reverse proxy: a generated configuration in a temporary
 * prefix, `daemon off;`, pid and logs in that prefix, stopped by pid.
 *
 *   const tls = await createProxyTls({ hostnames: ['localhost'] });   // optional
 *   const proxy = await startNginx({ config: `upstream gh { server 127.0.0.1:${a}; }
 *     server { listen 127.0.0.1:${port} ssl; ssl_certificate ${tls.certFile}; … }` });
 *   …
 *   await proxy.stop();
 *
 * `config` is the body of the `http {}` block, or a whole nginx.conf when it
 * has its own top-level `http {` block. The listen ports are the caller's
 * (freePort()); startNginx waits until every `listen` in the config accepts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { createCertificateAuthority, issueCertificate } from '../../src/tls/pki.js';
import { accepts } from './ports.js';

export interface Nginx {
  /** The temporary prefix: nginx.conf, nginx.pid, error.log, access.log live here. */
  prefix: string;
  pid: number;
  /** Everything nginx wrote to error.log so far. */
  errorLog(): Promise<string>;
  /** Everything nginx wrote to access.log so far. */
  accessLog(): Promise<string>;
  /** Stops nginx (SIGQUIT: graceful, then SIGKILL after 5 s) and removes the prefix. */
  stop(): Promise<void>;
}

/** The nginx binary: $NGINX_BIN, else nginx on PATH or in /usr/sbin. */
export function nginxBinary(): string | undefined {
  const candidates = [process.env.NGINX_BIN, ...(process.env.PATH ?? '').split(':').map((d) => path.join(d, 'nginx')), '/usr/sbin/nginx'];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

function wrap(config: string, prefix: string): string {
  // A whole configuration brings its own events/http blocks; the caller then owns pid and logs too.
  if (/^\s*http\s*\{/m.test(config)) return config;
  const root = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${root}daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 1024; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
${config}
}
`;
}

function listenPorts(config: string): number[] {
  return [...config.matchAll(/^\s*listen\s+(?:[\d.]+:|\[[^\]]+\]:)?(\d+)/gm)].map((m) => Number(m[1]));
}


export async function startNginx(options: { config: string; readyTimeoutMs?: number }): Promise<Nginx> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx not found: apt-get install nginx (or set NGINX_BIN)');
  const prefix = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-nginx-'));
  await mkdir(path.join(prefix, 'tmp'));
  const conf = path.join(prefix, 'nginx.conf');
  await writeFile(conf, wrap(options.config, prefix));
  // -t first: a configuration error is reported as such, not as a start-up timeout.
  const check = spawnSync(bin, ['-t', '-q', '-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')], { encoding: 'utf8' });
  if (check.status !== 0) {
    await rm(prefix, { recursive: true, force: true });
    throw new Error(`nginx rejected the configuration:\n${check.stderr}`);
  }
  const child = spawn(bin, ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = () => readFile(path.join(prefix, 'error.log'), 'utf8').catch(() => '');
  const accessLog = () => readFile(path.join(prefix, 'access.log'), 'utf8').catch(() => '');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(prefix, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  const ports = listenPorts(options.config);
  for (;;) {
    if (child.exitCode !== null) {
      const log = await errorLog();
      await stop();
      throw new Error(`nginx exited during start-up: ${stderr}\n${log}`);
    }
    if ((await Promise.all(ports.map(accepts))).every(Boolean)) break;
    if (Date.now() > deadline) {
      const log = await errorLog();
      await stop();
      throw new Error(`nginx not listening on ${ports.join(', ')} in time: ${stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { prefix, pid: child.pid!, errorLog, accessLog, stop };
}

export interface ProxyTls {
  directory: string;
  /** PEM of the CA that issued the server certificate: what clients trust. */
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Issues a client certificate under the same CA (for mTLS through the proxy). */
  issueClient(subject: string): Promise<{ certificatePem: string; privateKeyPem: string }>;
  remove(): Promise<void>;
}

/** A throwaway CA and a server certificate for `hostnames` (and 127.0.0.1), written as files nginx can read. */
export async function createProxyTls(options: { hostnames?: string[] } = {}): Promise<ProxyTls> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-proxy-tls-'));
  const ca = await createCertificateAuthority('CN=Gatehouse test proxy CA');
  const server = await issueCertificate({ subject: 'CN=gatehouse-test-proxy', usage: 'server', issuer: ca, altNames: { dns: options.hostnames ?? ['localhost'], ip: ['127.0.0.1'] } });
  const file = (name: string) => path.join(directory, name);
  await writeFile(file('ca.pem'), ca.certificatePem);
  await writeFile(file('server.pem'), `${server.certificatePem}\n${ca.certificatePem}\n`);
  await writeFile(file('server-key.pem'), server.privateKeyPem, { mode: 0o600 });
  return {
    directory,
    caPem: ca.certificatePem,
    caFile: file('ca.pem'),
    certFile: file('server.pem'),
    keyFile: file('server-key.pem'),
    async issueClient(subject) {
      const issued = await issueCertificate({ subject, usage: 'client', issuer: ca });
      return { certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem };
    },
    remove: () => rm(directory, { recursive: true, force: true }),
  };
}
