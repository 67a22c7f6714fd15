/**
 * What a built oidc-provider actually serves, found without trusting our own
 * table: every route name the library can register is read from its source
 * (lib/helpers/initialize_app.js: `get('token', routes.token, …)`), and the
 * built provider says which of them it registered (`provider.pathFor` throws
 * for a route it did not). Fixed paths written in the source (the two
 * discovery documents) are read from it too. A library upgrade that adds an
 * endpoint adds a line there, and so a route here.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import type Provider from 'oidc-provider';

import { routes as table, unmatchedRoute, type RouteIndex } from '../../src/http/route-table.js';

export interface ServedRoute {
  name: string;
  method: string;
  /** With any `:param` filled in. */
  path: string;
}

const require = createRequire(import.meta.url);
const libraryDir = path.dirname(require.resolve('oidc-provider'));
const source = readFileSync(path.join(libraryDir, 'helpers/initialize_app.js'), 'utf8');

const verbs: Record<string, string> = { get: 'GET', post: 'POST', put: 'PUT', del: 'DELETE', options: 'OPTIONS' };

/** Every (name, method, path expression) registration in the library's source. */
export function libraryRegistrations(): Array<{ name: string; method: string; expression: string }> {
  const out: Array<{ name: string; method: string; expression: string }> = [];
  for (const match of source.matchAll(/^\s*(get|post|put|del|options)\('([a-z_.]+)',\s*([^,]+),/gm)) {
    out.push({ method: verbs[match[1]!]!, name: match[2]!, expression: match[3]!.trim() });
  }
  return out;
}

/** `const openidDiscoveryRoute = '/.well-known/openid-configuration';` and the like. */
function constants(): Map<string, string> {
  return new Map([...source.matchAll(/const (\w+) = '(\/[^']*)';/g)].map((m) => [m[1]!, m[2]!]));
}

const params = { uid: 'aBcD1234', clientId: 'some-client-id' };

/** The routes `provider` serves: each registration whose name it can build a path for. */
export function servedRoutes(provider: Provider): ServedRoute[] {
  const fixed = constants();
  const served: ServedRoute[] = [];
  for (const { name, method, expression } of libraryRegistrations()) {
    const literal = fixed.get(expression);
    if (literal) {
      // A fixed path (discovery) is served when its name is: pathFor knows only the first path of a name.
      try {
        provider.pathFor(name);
      } catch {
        continue;
      }
      served.push({ name, method, path: literal });
      continue;
    }
    let built: string;
    try {
      built = provider.pathFor(name, params);
    } catch {
      continue; // not registered: the feature is off
    }
    served.push({ name, method, path: built });
  }
  return served;
}

/** Served routes the table does not list as the library's. */
export function unlistedRoutes(served: readonly ServedRoute[], index: RouteIndex = table): ServedRoute[] {
  return served.filter((route) => {
    const entry = index.resolve(route.path);
    return entry === unmatchedRoute || entry.owner !== 'library';
  });
}
