/**
 * The official MCP SDK's client as an agent would run it, for tests: an
 * `OAuthClientProvider` kept in memory whose `redirectToAuthorization` only
 * records where the user would be sent, and a connection to an MCP server.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

export class MemoryProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  private saved: { client?: OAuthClientInformationMixed; tokens?: OAuthTokens; verifier?: string } = {};
  /** `clientMetadataUrl`: a metadata-document client id; undefined to register dynamically. */
  constructor(readonly clientMetadataUrl: string | undefined, readonly redirectUrl: string) {}
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'SDK agent', redirect_uris: [this.redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(client: OAuthClientInformationMixed) {
    this.saved.client = client;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier!;
  }
}

/** Connects the SDK's client to `resource`; rejects with the SDK's UnauthorizedError until the provider holds tokens. */
export async function connectAgent(resource: string, provider: OAuthClientProvider): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
  const client = new Client({ name: 'gatehouse-test-agent', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** Completes the SDK's flow with the code from the redirect. */
export function finishAgentAuth(resource: string, provider: OAuthClientProvider, code: string): Promise<void> {
  return new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }).finishAuth(code);
}
