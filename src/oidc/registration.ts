/**
 * Dynamic client registration (RFC 7591) and its management protocol
 * (RFC 7592), configured in oidc-provider rather than reimplemented: the
 * library runs the endpoints, validates metadata, generates ids and secrets
 * through our factories, and issues and rotates registration access tokens
 * (stored hashed by the artifact adapter). Gatehouse adds its rules at the
 * two seams the library offers:
 *   - a registration policy (`features.registration.policies`), which the
 *     library runs on the raw request, for registrations with an initial
 *     access token and for updates with the registration access token it
 *     issued; it applies defaults, software statements and secret issuance;
 *   - the Client adapter (src/oidc/adapter.ts), through which every registered
 *     client is stored; it judges the validated metadata against the policy.
 *
 * Open registration (GATEHOUSE_REGISTRATION=open) turns initial access tokens
 * off, and with them library policies (oidc-provider accepts policies only with
 * adapter-backed initial access tokens, lib/helpers/configuration.js): open
 * clients get no defaults, no statements and no secret rotation, but the
 * adapter still holds every write to the baseline rules.
 */
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

import { generateClientId, generateClientSecret } from '../clients/clients.js';
import { RegistrationError } from '../registration/errors.js';
import type { RegistrationService, RequestOrigin } from '../registration/registrations.js';

/**
 * The one library policy name every initial access token (and so every
 * registration access token) carries. Which Gatehouse policy it stands for is
 * looked up per request, so a policy an operator changes applies at once, on
 * every node, to registrations and updates alike.
 */
export const policyHook = 'gatehouse';

export function originOf(ctx: KoaContextWithOIDC | undefined): RequestOrigin {
  return { ip: ctx?.ip, requestId: ctx?.state?.requestId as string | undefined };
}

export function toProviderError(error: RegistrationError): Error {
  switch (error.code) {
    // RFC 6750 §3.1: 401, and the library adds the WWW-Authenticate challenge; the detail is logged only.
    case 'invalid_token':
      return new errors.InvalidToken(error.description);
    case 'invalid_software_statement':
      return new errors.InvalidSoftwareStatement(error.description);
    case 'unapproved_software_statement':
      return new errors.UnapprovedSoftwareStatement(error.description);
    // The library answers invalid_redirect_uri when the description starts with redirect_uris.
    case 'invalid_redirect_uri':
    case 'invalid_client_metadata':
      return new errors.InvalidClientMetadata(error.description);
  }
}

/** oidc-provider's own rule (Client.needsSecret): auth methods and HMAC algorithms that use the secret. */
function needsSecret(ctx: KoaContextWithOIDC) {
  const Client = ctx.oidc.provider.Client as unknown as { needsSecret(metadata: object): boolean };
  return (metadata: object) => Client.needsSecret(metadata);
}

type Features = NonNullable<Configuration['features']>;

export function registrationFeatures(registrations: RegistrationService): Pick<Features, 'registration' | 'registrationManagement'> {
  if (registrations.mode === 'off') return { registration: { enabled: false }, registrationManagement: { enabled: false } };
  const tokenRequired = registrations.mode === 'token';

  async function applyGatehousePolicy(ctx: KoaContextWithOIDC, properties: Record<string, unknown>): Promise<void> {
    const updating = ctx.oidc.route === 'client_update';
    try {
      await registrations.prepare(properties, {
        ...originOf(ctx),
        ...(updating ? { clientId: ctx.oidc.client!.clientId } : { initialAccessToken: ctx.oidc.entities.InitialAccessToken!.jti }),
        needsSecret: needsSecret(ctx),
      });
    } catch (error) {
      throw error instanceof RegistrationError ? toProviderError(error) : error;
    }
  }

  return {
    registration: {
      enabled: true,
      initialAccessToken: tokenRequired,
      ...(tokenRequired ? { policies: { [policyHook]: applyGatehousePolicy as NonNullable<NonNullable<Features['registration']>['policies']>[string] } } : {}),
      idFactory: () => generateClientId(),
      secretFactory: () => generateClientSecret(),
      issueRegistrationAccessToken: true,
    },
    // Each update replaces the registration access token and the old one stops working (RFC 7592 §2.2 allows it).
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
  };
}

/**
 * Registered clients never need the library to fetch a sector_identifier_uri:
 * pairwise subjects are not offered, and fetching a URL a client names at
 * registration is server-side request forgery. The policy refuses the field.
 */
export const sectorIdentifierUriValidate = () => false;

/**
 * Client metadata beyond the library's: `resources` lists the resource
 * indicators (RFC 8707) a client may ask tokens for; `software_statement` is
 * declared so the library keeps it for the policy to verify instead of
 * silently dropping it (an unverified one is refused, never ignored).
 */
export const registrationClientMetadata = {
  // software_id (RFC 7591 §2): kept so a registration policy can cap the clients of one piece of software.
  properties: ['resources', 'software_statement', 'software_id'],
  validate(key: string, value: unknown): void {
    if (value === undefined) return;
    if (key === 'software_id' && !(typeof value === 'string' && value.length > 0 && value.length <= 200)) {
      throw new errors.InvalidClientMetadata('software_id must be a string of at most 200 characters');
    }
    if (key === 'resources' && !(Array.isArray(value) && value.length <= 100 && value.every((v) => typeof v === 'string' && URL.canParse(v)))) {
      throw new errors.InvalidClientMetadata('resources must be an array of absolute URIs');
    }
    if (key === 'software_statement' && typeof value !== 'string') {
      throw new errors.InvalidSoftwareStatement('software_statement must be a signed JWT');
    }
  },
};
