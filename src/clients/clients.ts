import { randomBytes } from 'node:crypto';

import type { Db } from '../db/index.js';
import type { SecretBox } from '../security/secret-box.js';
import { newClientSchema, type ClientType, type NewClient } from './schemas.js';
import { createClientStore, type ClientRow } from './store.js';

export interface ClientSummary {
  clientId: string;
  name: string;
  type: ClientType;
  grantTypes: string[];
  redirectUris: string[];
  authMethod: string;
  firstParty: boolean;
  disabled: boolean;
  source: ClientRow['source'];
  createdAt: Date;
}

export class ClientError extends Error {
  override name = 'ClientError';
}

/** Metadata for each client type, in RFC 7591 names, as oidc-provider reads it. */
function metadataFor(clientId: string, input: ReturnType<typeof newClientSchema.parse>): Record<string, unknown> {
  const common = {
    client_id: clientId,
    client_name: input.name,
    first_party: input.firstParty,
    id_token_signed_response_alg: input.idTokenSigningAlg,
    ...(input.scope ? { scope: input.scope } : {}),
  };
  switch (input.type) {
    case 'service':
      return { ...common, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: input.authMethod };
    case 'confidential':
      return {
        ...common,
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris,
        token_endpoint_auth_method: input.authMethod,
      };
    case 'public': {
      const native = input.redirectUris.some((uri) => !uri.startsWith('https:'));
      return {
        ...common,
        application_type: native ? 'native' : 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris,
        token_endpoint_auth_method: 'none',
      };
    }
  }
}

function typeOf(metadata: Record<string, unknown>): ClientType {
  if (metadata.token_endpoint_auth_method === 'none') return 'public';
  const grants = (metadata.grant_types as string[] | undefined) ?? [];
  return grants.length === 1 && grants[0] === 'client_credentials' ? 'service' : 'confidential';
}

function summarise(row: ClientRow): ClientSummary {
  const m = row.metadata;
  return {
    clientId: row.client_id,
    name: String(m.client_name ?? ''),
    type: typeOf(m),
    grantTypes: (m.grant_types as string[] | undefined) ?? [],
    redirectUris: (m.redirect_uris as string[] | undefined) ?? [],
    authMethod: String(m.token_endpoint_auth_method ?? 'client_secret_basic'),
    firstParty: m.first_party === true,
    disabled: row.disabled,
    source: row.source,
    createdAt: row.created_at,
  };
}

export function createClientService(db: Db, secrets: SecretBox) {
  const store = createClientStore(db);

  return {
    /** Creates a client; the secret (if any) is returned once and stored only encrypted. */
    async create(input: NewClient): Promise<{ client: ClientSummary; clientSecret: string | undefined }> {
      const parsed = newClientSchema.parse(input);
      const clientId = randomBytes(16).toString('base64url');
      const clientSecret = parsed.type === 'public' ? undefined : randomBytes(32).toString('base64url');
      const row = await store.insert({
        client_id: clientId,
        metadata: metadataFor(clientId, parsed),
        secret_ciphertext: clientSecret ? secrets.seal('client-secret', clientId, clientSecret) : null,
        source: 'cli',
      });
      return { client: summarise(row), clientSecret };
    },

    /**
     * The metadata oidc-provider needs to authenticate and serve a client,
     * with the secret decrypted in memory only. Disabled clients do not exist
     * as far as the protocol is concerned.
     */
    async metadataForProvider(clientId: string): Promise<Record<string, unknown> | undefined> {
      const row = await store.findById(clientId);
      if (!row || row.disabled) return undefined;
      if (!row.secret_ciphertext) return row.metadata;
      return { ...row.metadata, client_secret: secrets.open('client-secret', row.client_id, row.secret_ciphertext) };
    },

    async list(): Promise<ClientSummary[]> {
      return (await store.list()).map(summarise);
    },

    async find(clientId: string): Promise<ClientSummary | undefined> {
      const row = await store.findById(clientId);
      return row ? summarise(row) : undefined;
    },

    async remove(clientId: string): Promise<void> {
      if (!(await store.remove(clientId))) throw new ClientError('no such client');
    },

    async setDisabled(clientId: string, disabled: boolean): Promise<void> {
      if (!(await store.setDisabled(clientId, disabled))) throw new ClientError('no such client');
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
