/**
 * The same-run baseline: the raw oidc-provider with nothing of Gatehouse
 * around it. In-memory adapter (the library's default), one ES256 key, the
 * same client_secret_basic service client, JWT access tokens (RFC 9068) for
 * the same resource indicator, introspection on; DPoP as Gatehouse runs it
 * (a DPoP-bound client `<CLIENT_ID>-dpop`, server nonces required, the
 * library's own replay check on its in-memory adapter). Prints `ready <url>` once
 * listening.
 *
 *   node .bench-build/bench/baseline-server.js PORT CLIENT_ID CLIENT_SECRET AUDIENCE   (bench/run.ts compiles it)
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, audience] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !audience) throw new Error('usage: baseline-server.ts PORT CLIENT_ID CLIENT_SECRET AUDIENCE');

const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'baseline-es256', alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    { client_id: clientId, client_secret: clientSecret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256' },
    { client_id: `${clientId}-dpop`, client_secret: clientSecret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256', dpop_bound_access_tokens: true },
  ],
  jwks: { keys: [jwk] as never },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== audience) throw new Error('unknown resource');
        return { scope: 'read write', audience, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  scopes: ['openid', 'read', 'write'],
});
provider.on('server_error', (_ctx, error) => process.stderr.write(`server_error ${String(error)}\n`));

const server = createServer(provider.callback() as never);
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`ready ${issuer}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
