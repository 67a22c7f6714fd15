/**
 * An operator's change to a client's metadata (the admin API's PATCH), as a
 * pure function of the stored metadata: the type stays what it is, and the
 * same rules as on creation hold (a service client has no redirect URIs, the
 * others need one; a public client's application_type follows its URIs).
 */
import { ClientError, scopeMetadata, summarise } from './metadata.js';
import { clientChangeSchema, type ClientChange } from './schemas.js';
import type { ClientRow } from './store.js';

export function changedMetadata(row: ClientRow, input: ClientChange): Record<string, unknown> {
  const parsed = clientChangeSchema.safeParse(input);
  if (!parsed.success) throw new ClientError(parsed.error.issues.map((i) => `${i.path.join('.') || 'change'}: ${i.message}`).join('; '));
  const change = parsed.data;
  if (row.source === 'registration') throw new ClientError('a dynamically registered client changes through its registration access token (RFC 7592), under its policy');
  const { type } = summarise(row);
  const next: Record<string, unknown> = { ...row.metadata };
  if (change.name !== undefined) next.client_name = change.name;
  if (change.firstParty !== undefined) next.first_party = change.firstParty;
  if (change.scope !== undefined) {
    delete next.scope;
    delete next.allowed_scopes;
    Object.assign(next, scopeMetadata(change.scope ?? undefined));
  }
  if (type === 'service') {
    if (change.redirectUris?.length || change.postLogoutRedirectUris?.length) throw new ClientError('a service (client credentials) client has no redirect URIs');
    return next;
  }
  if (change.redirectUris !== undefined) {
    if (change.redirectUris.length === 0) throw new ClientError(`a ${type} client needs at least one redirect URI`);
    next.redirect_uris = change.redirectUris;
    if (type === 'public') next.application_type = change.redirectUris.some((uri) => !uri.startsWith('https:')) ? 'native' : 'web';
  }
  if (change.postLogoutRedirectUris !== undefined) next.post_logout_redirect_uris = change.postLogoutRedirectUris;
  return next;
}
