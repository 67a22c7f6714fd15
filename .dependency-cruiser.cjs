// The import graph of src/, checked by `npm run check:imports` (CI runs it once
// before the test rounds). The layers are DESIGN.md's:
//   edge: http, admin, interactions, account, console, oidc, cli
//     → services: accounts, mfa, clients, rbac, resources, keys, registration,
//       federation, api-keys, audit, mail, rollups, artifacts
//       → base: crypto, db, config, observability, tls
// The process entries and the composition root (main.ts, cli.ts, server.ts,
// core.ts, services.ts) sit on top. A file never imports a layer above it,
// services never import koa or oidc-provider, and there are no cycles.
// Type-only imports count (tsPreCompilationDeps): a type from a layer above
// is still a dependency on it.
/** @type {import('dependency-cruiser').IConfiguration} */

const edge = '^src/(http|admin|interactions|account|console|oidc|cli)/';
const services = '^src/(accounts|mfa|clients|rbac|resources|keys|registration|federation|api-keys|audit|mail|rollups|artifacts|console-sessions)/';
const base = '^src/(crypto|db|config|observability|tls)/';
const root = '^src/[^/]+\\.ts$';
const webLibraries = '^node_modules/(koa|koa-[^/]+|@koa/[^/]+|oidc-provider|@types/koa[^/]*|@types/oidc-provider)/';

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'Import cycles: split the module both sides need.', from: {}, to: { circular: true } },
    {
      name: 'services-not-upward',
      severity: 'error',
      comment: 'A service imports only services and the base layer, never an edge module or the composition root.',
      from: { path: services },
      to: { path: [edge, root] },
    },
    {
      name: 'base-not-upward',
      severity: 'error',
      comment: 'crypto, db, config, observability and tls import only each other.',
      from: { path: base },
      to: { path: [edge, services, root] },
    },
    {
      name: 'services-without-koa-or-library',
      severity: 'error',
      comment: 'Services never import koa or oidc-provider (DESIGN.md): HTTP belongs to the edge, the library to oidc/.',
      // observability/ holds the request-context and metrics middleware, which are koa's by nature.
      from: { path: [services, '^src/(crypto|db|config|tls)/'] },
      to: { path: webLibraries },
    },
    {
      name: 'edge-without-sql',
      severity: 'error',
      comment: 'Routes and commands never write SQL: they call a service, which owns its store.ts.',
      from: { path: '^src/(http|admin|interactions|account|console|cli)/' },
      to: { path: ['^src/[^/]+/store\\.ts$', '^node_modules/(pg|@electric-sql/pglite)/'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing (a typo, or a package missing from package.json).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.d.ts'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
