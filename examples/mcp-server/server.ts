/**
 * An MCP server (Model Context Protocol, Streamable HTTP transport, the official
 * `@modelcontextprotocol/sdk`) protected by Gatehouse, as the MCP authorization
 * specification has it (docs/mcp.md):
 *   - without a valid token: 401 with `WWW-Authenticate: Bearer
 *     resource_metadata="…"` (RFC 9728 §5.1), the way an MCP client finds
 *     Gatehouse; the metadata document is served at its well-known path;
 *   - access tokens are JWTs (RFC 9068) verified offline with jose against
 *     Gatehouse's JWKS: issuer, `typ: at+jwt`, and the audience, which must be
 *     this server's own resource indicator (RFC 8707): a token for another API
 *     is refused, never passed on;
 *   - the tools need the `mcp:tools` scope (403 `insufficient_scope` otherwise);
 *   - a DPoP-bound token (`cnf.jkt`) needs the DPoP scheme and a valid proof
 *     (RFC 9449 §7, examples/resource-server/dpop.ts).
 *
 * Run it: `npx tsx examples/mcp-server/server.ts` with ISSUER, RESOURCE (the
 * public URL of the /mcp endpoint) and PORT (see docs/mcp.md).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';

import { createJtiCache, dpopAlgorithms, dpopProblem } from '../resource-server/dpop.js';
import { metadataPath, resourceMetadata, resourceMetadataParam } from '../resource-server/metadata.js';

export const toolsScope = 'mcp:tools';

export interface McpServerOptions {
  issuer: string;
  /** This server's resource indicator: the public URL of its MCP endpoint, e.g. https://tools.example.com/mcp. */
  resource: string;
  jwksUrl?: string;
  dpopWindowSeconds?: number;
}

type Refusal = { status: 401 | 403; scheme: 'Bearer' | 'DPoP'; error: string; description: string };

/** The tools this server offers; each sees who called (the token's subject and client). */
function buildServer(auth: AuthInfo): McpServer {
  const server = new McpServer({ name: 'gatehouse-example-tools', version: '1.0.0' });
  server.registerTool('whoami', { description: 'Who the access token speaks for' }, async () => ({
    content: [{ type: 'text', text: JSON.stringify({ sub: auth.extra?.sub, client_id: auth.clientId, scopes: auth.scopes }) }],
  }));
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  return server;
}

export function createMcpHandler(options: McpServerOptions) {
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl ?? `${options.issuer}/jwks`));
  const window = options.dpopWindowSeconds ?? 120;
  const jtis = createJtiCache(window * 2);
  const resource = new URL(options.resource);
  const metadata = JSON.stringify(resourceMetadata({ resource: options.resource, issuer: options.issuer, scopes: [toolsScope], name: 'Example MCP tools' }));
  const challengeParam = resourceMetadataParam(resource.origin, options.resource);

  async function authenticate(req: IncomingMessage): Promise<AuthInfo | Refusal> {
    const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/i.exec(req.headers.authorization ?? '');
    if (!match) return { status: 401, scheme: 'Bearer', error: 'invalid_request', description: 'an access token is required' };
    const scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = match[2]!;
    let payload: JWTPayload;
    try {
      // The audience check is what keeps a token for another API (or one issued for this API to be passed on) out.
      ({ payload } = await jwtVerify(token, jwks, { issuer: options.issuer, audience: options.resource, typ: 'at+jwt', algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'] }));
    } catch {
      return { status: 401, scheme, error: 'invalid_token', description: 'the access token is not valid for this server' };
    }
    const jkt = (payload.cnf as Record<string, unknown> | undefined)?.jkt;
    if (typeof jkt === 'string') {
      if (scheme !== 'DPoP') return { status: 401, scheme: 'DPoP', error: 'invalid_token', description: 'the access token is DPoP-bound: use the DPoP scheme with a proof' };
      const url = new URL(req.url ?? '/', resource.origin);
      const problem = await dpopProblem({ method: req.method ?? 'GET', url, proofs: req.headersDistinct.dpop ?? [], accessToken: token, jkt }, jtis, window);
      if (problem) return { status: 401, scheme: 'DPoP', error: 'invalid_dpop_proof', description: problem };
    } else if (scheme === 'DPoP') {
      return { status: 401, scheme: 'DPoP', error: 'invalid_token', description: 'the access token is not DPoP-bound' };
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (!scopes.includes(toolsScope)) return { status: 403, scheme, error: 'insufficient_scope', description: `the ${toolsScope} scope is required` };
    return { token, clientId: String(payload.client_id), scopes, expiresAt: payload.exp, resource, extra: { sub: payload.sub } };
  }

  function refuse(res: ServerResponse, refusal: Refusal) {
    // RFC 6750 §3 and RFC 9728 §5.1: the error and the metadata location travel in the challenge; RFC 6750 §3.1: scope on 403.
    const scope = refusal.error === 'insufficient_scope' ? `, scope="${toolsScope}"` : '';
    const algs = refusal.scheme === 'DPoP' ? `, algs="${dpopAlgorithms.join(' ')}"` : '';
    res.writeHead(refusal.status, {
      'content-type': 'application/json',
      'www-authenticate': `${refusal.scheme} error="${refusal.error}", error_description="${refusal.description}"${scope}${algs}, ${challengeParam}`,
    });
    res.end(JSON.stringify({ error: refusal.error, error_description: refusal.description }));
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', resource.origin).pathname;
    if (req.method === 'GET' && path === metadataPath(options.resource)) {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      res.end(metadata);
      return;
    }
    if (path !== resource.pathname) {
      res.writeHead(404).end();
      return;
    }
    const auth = await authenticate(req);
    if ('status' in auth) return refuse(res, auth);
    // Stateless: one server and transport per request, so nothing outlives the token that authorised it.
    const server = buildServer(auth);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(Object.assign(req, { auth }), res);
  };
}

/** Listens on loopback; `resourceFor(origin)` names the resource once the port is known. */
export async function listen(options: Omit<McpServerOptions, 'resource'> & { resourceFor: (origin: string) => string }, port = 0, host = '127.0.0.1'): Promise<{ server: Server; resource: string }> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  const server = createServer((req, res) => {
    handler!(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const resource = options.resourceFor(`http://${host}:${(server.address() as AddressInfo).port}`);
  handler = createMcpHandler({ ...options, resource });
  return { server, resource };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const port = Number(env.PORT ?? 4000);
  const { resource } = await listen({ issuer: env.ISSUER ?? 'http://localhost:3000', resourceFor: (origin) => env.RESOURCE ?? `${origin}/mcp` }, port);
  process.stdout.write(`example MCP server listening; resource ${resource}\n`);
}
