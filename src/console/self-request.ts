/**
 * The console's backend redeems its authorization code at this node's own
 * token endpoint, through the listener it serves on (loopback): the same
 * /token every client uses, with its client authentication, PKCE check,
 * rate limit and audit, without depending on the public issuer URL being
 * reachable from inside the node. With a TLS listener the certificate is the
 * node's own, so it is not checked on this loopback connection.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export async function postForm(base: string, path: string, form: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, base);
  const payload = new URLSearchParams(form).toString();
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload), accept: 'application/json' },
        ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('token request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}
