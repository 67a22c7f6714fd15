import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import type { Context, Next } from 'koa';

import { viewsDir } from '../http/views.js';

const script = 'text/javascript; charset=utf-8';

/**
 * @simplewebauthn/browser's own UMD bundle (global `SimpleWebAuthnBrowser`),
 * served from this origin: the pages' CSP allows no other script source. The
 * package's exports map names only its modules, so the bundle is found beside them.
 */
function webauthnBundle(): Buffer {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return readFileSync(path.join(path.dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'));
}

/** The few static files the pages need, read once; nothing else under /static is served. */
export function staticAssets() {
  const files = new Map([
    ['/static/gatehouse.css', { body: readFileSync(path.join(viewsDir, 'static/gatehouse.css')), type: 'text/css; charset=utf-8' }],
    ['/static/passkeys.js', { body: readFileSync(path.join(viewsDir, 'static/passkeys.js')), type: script }],
    ['/static/simplewebauthn-browser.js', { body: webauthnBundle(), type: script }],
  ]);
  return async function staticMiddleware(ctx: Context, next: Next) {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = file.type;
    ctx.body = file.body;
  };
}
