import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { Context, Next } from 'koa';

import { viewsDir } from '../http/views.js';

/** The few static files the pages need, read once; nothing else under /static is served. */
export function staticAssets() {
  const files = new Map([['/static/gatehouse.css', { body: readFileSync(path.join(viewsDir, 'static/gatehouse.css')), type: 'text/css; charset=utf-8' }]]);
  return async function staticMiddleware(ctx: Context, next: Next) {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = file.type;
    ctx.body = file.body;
  };
}
