/**
 * The console's front end: its own ES modules (views/static/console/) and two
 * libraries served from node_modules as they ship (docs/dependencies.md):
 * htm's Preact bundle (a 4 kB virtual DOM with tagged templates, no build
 * step) and uPlot (time-series charts on canvas). Nothing from another
 * origin; every file read once at start-up.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import type { Context, Next } from 'koa';

import { viewsDir } from '../http/views.js';

const script = 'text/javascript; charset=utf-8';
const style = 'text/css; charset=utf-8';

/** A file of a package, beside its main entry (both keep it in dist/; neither exports package.json). */
function packageFile(pkg: string, file: string): Buffer {
  const entry = createRequire(import.meta.url).resolve(pkg);
  return readFileSync(path.join(path.dirname(entry), '..', file));
}

export function consoleAssets() {
  const own = (name: string, type: string) => [`/console/static/${name}`, { body: readFileSync(path.join(viewsDir, 'static/console', name)), type }] as const;
  const files = new Map([
    own('app.js', script),
    own('pages.js', script),
    own('overview.js', script),
    own('api.js', script),
    own('console.css', style),
    ['/console/static/preact-htm.js', { body: packageFile('htm', 'preact/standalone.module.js'), type: script }],
    ['/console/static/uplot.js', { body: packageFile('uplot', 'dist/uPlot.esm.js'), type: script }],
    ['/console/static/uplot.css', { body: packageFile('uplot', 'dist/uPlot.min.css'), type: style }],
  ]);
  return async function consoleAsset(ctx: Context, next: Next) {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = file.type;
    ctx.body = file.body;
  };
}
