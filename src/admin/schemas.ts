/**
 * Request and response shapes of /admin/v1, in zod: the same objects validate
 * requests (strictly: unknown or read-only fields are a 400 naming them,
 * DESIGN invariant 6) and become the OpenAPI document (openapi.ts). Response
 * shapes list every field on purpose: nothing leaves that is not named here,
 * so no hash, ciphertext or internal column can leak by being added to a row.
 */
import { z } from 'zod';

import { newAccountSchema, passwordSchema } from '../accounts/schemas.js';
import { passkeyName } from '../passkeys/schemas.js';
import { clientAuthMethods, clientTypes, newClientSchema } from '../clients/schemas.js';
import { signingAlgorithms } from '../keys/keystore.js';
import { newResourceSchema } from '../resources/resources.js';

export const timestamp = z.iso.datetime().describe('RFC 3339 date-time, UTC');
export const nullableTimestamp = timestamp.nullable();

export const idParams = z.strictObject({ id: z.string().min(1).max(200) });
export const clientParams = z.strictObject({ clientId: z.string().min(1).max(200) });
export const secretParams = z.strictObject({ clientId: z.string().min(1).max(200), secretId: z.string().min(1).max(200) });
export const kidParams = z.strictObject({ kid: z.string().min(1).max(200) });
export const audienceParams = z.strictObject({ audience: z.string().min(1).max(2000) });

export const limit = z.coerce.number().int().min(1).max(200).default(50).describe('Page size (1 to 200).');
export const cursor = z.string().max(200).optional().describe('`next_cursor` of the previous page.');
const flag = z.enum(['true', 'false']).transform((v) => v === 'true');

export const pageOf = <T extends z.ZodType>(item: T, id: string) =>
  z.strictObject({ items: z.array(item), next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last.') }).meta({ id });

// Users

export const userSchema = z
  .strictObject({
    id: z.string(),
    username: z.string(),
    email: z.string().nullable(),
    email_verified: z.boolean(),
    name: z.string().nullable(),
    given_name: z.string().nullable(),
    family_name: z.string().nullable(),
    disabled: z.boolean(),
    admin: z.boolean().describe('Holds the built-in administrator role; setting it needs admin:roles.write.'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'User' });

export const userListQuery = z.strictObject({ limit, cursor, q: z.string().max(254).optional().describe('Substring of the username or email.'), disabled: flag.optional() });

export const newUserBody = z
  .strictObject({
    username: newAccountSchema.shape.username,
    password: passwordSchema,
    email: newAccountSchema.shape.email,
    email_verified: z.boolean().optional(),
    name: newAccountSchema.shape.name,
    given_name: newAccountSchema.shape.givenName,
    family_name: newAccountSchema.shape.familyName,
  })
  .meta({ id: 'NewUser' });

export const userPatchBody = z
  .strictObject({
    email: z.email().max(254).nullable().optional(),
    email_verified: z.boolean().optional(),
    name: z.string().trim().min(1).max(200).nullable().optional(),
    given_name: z.string().trim().min(1).max(100).nullable().optional(),
    family_name: z.string().trim().min(1).max(100).nullable().optional(),
    admin: z.boolean().optional(),
  })
  .meta({ id: 'UserPatch' });

export const passwordBody = z.strictObject({ password: passwordSchema }).meta({ id: 'NewPassword' });

export const secondFactorSchema = z
  .strictObject({ enrolled: z.boolean(), enrolled_at: nullableTimestamp, last_used_at: nullableTimestamp, recovery_codes_left: z.number().int() })
  .meta({ id: 'SecondFactorStatus' });

export const recoveryCodesSchema = z.strictObject({ recovery_codes: z.array(z.string()).describe('Shown once, never again.') }).meta({ id: 'RecoveryCodes' });

export const lockoutSchema = z.strictObject({ cleared: z.boolean() }).meta({ id: 'Unlock' });

export const emailVerificationSchema = z
  .strictObject({ sent_to: z.string().describe('The address the link went to: the account\'s current one.'), expires_at: z.string().describe('When the link stops working (RFC 3339).') })
  .meta({ id: 'EmailVerification' });
// A user's passkeys

export const passkeyParams = z.strictObject({ id: z.string().min(1).max(200), passkeyId: z.string().min(1).max(200) });

export const passkeySchema = z
  .strictObject({
    id: z.string().describe('Gatehouse\'s id for the passkey (not the WebAuthn credential id).'),
    name: z.string(),
    device_type: z.enum(['singleDevice', 'multiDevice']).describe('`multiDevice`: a synced passkey (backup eligible, WebAuthn §6.1.3).'),
    backed_up: z.boolean(),
    transports: z.array(z.string()),
    created_at: timestamp,
    last_used_at: nullableTimestamp,
  })
  .meta({ id: 'Passkey' });
export const passkeyListSchema = z.strictObject({ items: z.array(passkeySchema) }).meta({ id: 'PasskeyList' });
export const passkeyPatchBody = z.strictObject({ name: passkeyName }).meta({ id: 'PasskeyPatch' });

// A user's sessions and grants

export const sessionParams = z.strictObject({ id: z.string().min(1).max(200), sid: z.string().min(1).max(200) });
export const grantParams = z.strictObject({ id: z.string().min(1).max(200), grantId: z.string().min(1).max(200) });

export const sessionSchema = z
  .strictObject({
    id: z.string().describe('The session\'s uid: names it here, authenticates nothing (the cookie is never shown).'),
    signed_in_at: nullableTimestamp,
    acr: z.string().nullable(),
    amr: z.array(z.string()),
    clients: z.array(z.string()).describe('Clients the user signed in to in this session.'),
    expires_at: nullableTimestamp,
  })
  .meta({ id: 'Session' });
export const sessionListSchema = z.strictObject({ items: z.array(sessionSchema) }).meta({ id: 'SessionList' });

export const grantSchema = z
  .strictObject({
    id: z.string(),
    client_id: z.string(),
    scope: z.string().describe('OpenID Connect scopes allowed.'),
    resources: z.record(z.string(), z.string()).describe('Resource server → scopes allowed there.'),
    created_at: nullableTimestamp,
    expires_at: nullableTimestamp,
  })
  .meta({ id: 'Grant' });
export const grantListSchema = z.strictObject({ items: z.array(grantSchema) }).meta({ id: 'GrantList' });

export const signOutSchema = z
  .strictObject({ sessions: z.number().int(), grants: z.number().int(), logouts: z.number().int().describe('Back-channel logout tokens queued.') })
  .meta({ id: 'SignOutEverywhere' });

// Clients

export const clientSchema = z
  .strictObject({
    client_id: z.string(),
    name: z.string(),
    type: z.enum(clientTypes),
    grant_types: z.array(z.string()),
    redirect_uris: z.array(z.string()),
    token_endpoint_auth_method: z.string(),
    first_party: z.boolean(),
    disabled: z.boolean(),
    source: z.enum(['cli', 'registration']),
    registration_policy: z.string().nullable(),
    dpop_bound_access_tokens: z.boolean().describe('RFC 9449 §5.2: token requests need a DPoP proof and access tokens carry cnf.jkt (GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP may require it of public clients besides).'),
    security_profile: z.enum(['fapi2']).nullable().describe('fapi2: this client follows the FAPI 2.0 Security Profile on its own.'),
    secret_expires_at: nullableTimestamp,
    backchannel_logout_uri: z.string().nullable(),
    backchannel_logout_session_required: z.boolean(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Client' });

export const clientListQuery = z.strictObject({ limit, cursor, type: z.enum(clientTypes).optional(), disabled: flag.optional() });

export const newClientBody = z
  .strictObject({
    type: z.enum(clientTypes),
    name: newClientSchema.shape.name,
    redirect_uris: z.array(z.string().max(2000)).max(20).optional(),
    post_logout_redirect_uris: z.array(z.string().max(2000)).max(20).optional(),
    first_party: z.boolean().optional(),
    scope: newClientSchema.shape.scope,
    token_endpoint_auth_method: z.enum(clientAuthMethods).optional(),
    id_token_signed_response_alg: z.enum(['ES256', 'RS256', 'PS256', 'EdDSA']).optional(),
    tls_client_auth_subject_dn: z.string().max(1000).optional(),
    tls_client_auth_san: z.strictObject({ type: z.enum(['dns', 'uri', 'ip', 'email']), value: z.string().min(1).max(1000) }).optional(),
    certificate_pem: z.string().max(20_000).optional(),
    tls_client_certificate_bound_access_tokens: z.boolean().optional(),
    backchannel_logout_uri: z.string().max(2000).optional().describe('OpenID Connect Back-Channel Logout 1.0: where logout tokens are POSTed.'),
    backchannel_logout_session_required: z.boolean().optional(),
    jwks: newClientSchema.shape.jwks.describe('private_key_jwt (RFC 7523): the client\'s public keys.'),
    dpop_bound_access_tokens: z.boolean().optional(),
    device_flow: z.boolean().optional().describe('RFC 8628: the client may use the device authorization grant; a public client without redirect URIs may use only that.'),
    security_profile: z.enum(['fapi2']).optional(),
  })
  .meta({ id: 'NewClient' });

export const clientPatchBody = z
  .strictObject({
    name: newClientSchema.shape.name.optional(),
    redirect_uris: z.array(z.string().max(2000)).max(20).optional(),
    post_logout_redirect_uris: z.array(z.string().max(2000)).max(20).optional(),
    first_party: z.boolean().optional(),
    scope: newClientSchema.shape.scope.unwrap().nullable().optional().describe('Space-separated scopes the client may be granted; null: any its resource servers offer.'),
    dpop_bound_access_tokens: z.boolean().optional().describe('RFC 9449 §5.2: require DPoP-bound access tokens of this client.'),
  })
  .meta({ id: 'ClientPatch' });

export const createdClientSchema = z
  .strictObject({ client: clientSchema, client_secret: z.string().nullable().describe('Shown once, never again; null for clients without a shared secret.') })
  .meta({ id: 'CreatedClient' });

export const secretSchema = z
  .strictObject({ id: z.string(), state: z.enum(['current', 'previous']), created_at: timestamp, expires_at: nullableTimestamp, last_used_at: nullableTimestamp })
  .meta({ id: 'ClientSecretMetadata' });
export const secretListSchema = z.strictObject({ items: z.array(secretSchema) }).meta({ id: 'ClientSecretList' });

export const rotateSecretBody = z
  .strictObject({ previous_expires_in: z.number().int().min(0).max(90 * 86_400).optional().describe('Seconds the previous secret keeps working (default 86400; 0 ends it now).') })
  .meta({ id: 'SecretRotation' });
export const rotatedSecretSchema = z
  .strictObject({ client_secret: z.string().describe('Shown once, never again.'), previous_expires_at: timestamp })
  .meta({ id: 'RotatedSecret' });

// Resource servers

export const resourceSchema = z
  .strictObject({
    audience: z.string(),
    name: z.string(),
    scopes: z.array(z.string()),
    access_token_ttl: z.number().int(),
    token_format: z.enum(['jwt', 'opaque']),
    signing_alg: z.string(),
    rbac: z.boolean().describe('Tokens for this audience carry only the scopes the subject holds through roles (docs/rbac.md).'),
    unheld_scopes: z.enum(['drop', 'refuse']).describe('A requested scope the subject does not hold: dropped, or the request refused with invalid_scope.'),
    token_claims: z.array(z.enum(['roles', 'groups'])).describe('Claims the access tokens carry besides scope.'),
    created_at: timestamp,
  })
  .meta({ id: 'ResourceServer' });
export const protectedResourceMetadataSchema = z
  .strictObject({
    resource: z.string(),
    authorization_servers: z.array(z.string()),
    scopes_supported: z.array(z.string()),
    bearer_methods_supported: z.array(z.string()),
    resource_name: z.string(),
    dpop_signing_alg_values_supported: z.array(z.string()),
    dpop_bound_access_tokens_required: z.boolean(),
  })
  .meta({ id: 'ProtectedResourceMetadata', description: 'RFC 9728 metadata for the resource server to publish at /.well-known/oauth-protected-resource (Link header: its location).' });
export const resourceListQuery = z.strictObject({ limit, cursor });
/** Access control of a resource server (docs/rbac.md): on create and on PATCH. */
const resourceAccessControl = {
  rbac: z.boolean().optional().describe('Narrow the scopes of this server\'s tokens to what the subject holds (default true).'),
  unheld_scopes: z.enum(['drop', 'refuse']).optional(),
  token_claims: z.array(z.enum(['roles', 'groups'])).max(2).optional(),
};
export const newResourceBody = z
  .strictObject({
    audience: newResourceSchema.shape.audience,
    name: newResourceSchema.shape.name,
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/)).max(100).optional(),
    access_token_ttl: z.number().int().min(30).max(86_400),
    token_format: z.enum(['jwt', 'opaque']).optional(),
    signing_alg: z.enum(['ES256', 'RS256', 'PS256', 'EdDSA']).optional(),
    ...resourceAccessControl,
  })
  .meta({ id: 'NewResourceServer' });

export const resourcePatchBody = z
  .strictObject({
    name: newResourceSchema.shape.name.optional(),
    scopes: newResourceBody.shape.scopes,
    access_token_ttl: newResourceBody.shape.access_token_ttl.optional(),
    token_format: newResourceBody.shape.token_format,
    signing_alg: newResourceBody.shape.signing_alg,
    ...resourceAccessControl,
  })
  .meta({ id: 'ResourceServerPatch' });

// Signing keys

export const keySchema = z
  .strictObject({
    kid: z.string(),
    alg: z.string(),
    state: z.enum(['next', 'active', 'retired', 'expired', 'revoked']),
    created_at: timestamp,
    activate_at: timestamp,
    superseded_at: nullableTimestamp,
    unpublish_at: nullableTimestamp,
  })
  .meta({ id: 'SigningKey' });
export const keyListSchema = z.strictObject({ items: z.array(keySchema) }).meta({ id: 'SigningKeyList' });
export const rotateKeyBody = z.strictObject({ alg: z.enum(signingAlgorithms).optional(), immediate: z.boolean().optional() }).meta({ id: 'KeyRotation' });
export const rotatedKeySchema = z.strictObject({ kid: z.string(), alg: z.string(), activate_at: timestamp }).meta({ id: 'RotatedKey' });
export const withdrawnKeySchema = z.strictObject({ kid: z.string(), successor: z.string().nullable() }).meta({ id: 'WithdrawnKey' });
