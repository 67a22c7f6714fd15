/**
 * oidc-provider's storage adapter. Clients come from the clients service
 * (metadata in their own table, secrets encrypted); initial access tokens from
 * the registration service (their own table, hashed); every other model,
 * registration access tokens included, is a protocol artifact in oidc_models,
 * stored under a hash of its identifier.
 */
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

import { system } from '../audit/events.js';
import type { ArtifactPayload, ArtifactStore } from '../artifacts/store.js';
import { sha256 } from '../crypto/digest.js';
import { holdsUnstorableText, isStorableText } from '../db/storable-text.js';
import type { ClientService } from '../clients/clients.js';
import { RegistrationError } from '../registration/errors.js';
import type { RegistrationService } from '../registration/registrations.js';
import { originOf, policyHook, toProviderError } from './registration.js';

/** Models whose rows are tied to a grant and die with it (oidc-provider's grantable set). */
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * Clients. The library writes one only from the registration endpoints, after
 * validating it; the write goes through the registration service, which holds
 * it to its policy and stores it with its secret sealed. The request (which
 * endpoint, which initial access token) comes from the library's per-request
 * context (Provider.ctx), since the adapter interface carries only the metadata.
 */
/**
 * Models Gatehouse keeps in tables of its own (clients, initial access
 * tokens): the library never consumes them, looks them up by uid or user
 * code, or revokes them by grant.
 */
abstract class OwnTableAdapter implements Adapter {
  abstract find(id: string): Promise<AdapterPayload | undefined>;
  abstract upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void>;
  abstract destroy(id: string): Promise<void>;
  async consume() {}
  async findByUid() {
    return undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async revokeByGrantId() {}
}

/** Turns stored client metadata into what the library enforces (src/oidc/dpop.ts, src/oidc/fapi.ts); undefined: unusable. */
export type ClientPolicy = (metadata: Record<string, unknown>) => Record<string, unknown> | undefined;

class ClientAdapter extends OwnTableAdapter {
  constructor(private readonly clients: ClientService, private readonly registrations: RegistrationService, private readonly policy: ClientPolicy) {
    super();
  }
  async find(id: string) {
    // A client id from inside a client assertion or request object, which the edge does not decode:
    // one the database cannot hold names no client (401 invalid_client), not a server error.
    if (!isStorableText(id)) return undefined;
    return this.clients.metadataForProvider(id).then((metadata) => metadata && this.policy(metadata)) as Promise<AdapterPayload | undefined>;
  }
  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    const ctx = Provider.ctx;
    const metadata = payload as Record<string, unknown>;
    try {
      switch (ctx?.oidc.route) {
        case 'registration':
          return await this.registrations.register(id, metadata, { ...originOf(ctx), initialAccessToken: ctx.oidc.entities.InitialAccessToken?.jti });
        case 'client_update':
          return await this.registrations.update(id, metadata, originOf(ctx));
        default:
          throw new Error(`clients are written only by the registration endpoints, not by route ${ctx?.oidc.route ?? '(none)'}`);
      }
    } catch (error) {
      throw error instanceof RegistrationError ? toProviderError(error) : error;
    }
  }
  async destroy(id: string) {
    const ctx = Provider.ctx;
    if (ctx?.oidc.route === 'client_delete') await this.registrations.remove(id, originOf(ctx));
    else await this.clients.remove(system, id).catch(() => undefined);
  }
}

/**
 * Initial access tokens, as the library's InitialAccessToken model sees them.
 * They are minted and revoked by operators (src/registration), stored as a
 * hash; `find` answers only for a token that may register a client now, and
 * tags it with the policy hook so the library runs the Gatehouse policy.
 */
class InitialAccessTokenAdapter extends OwnTableAdapter {
  constructor(private readonly registrations: RegistrationService) {
    super();
  }
  async find(value: string) {
    const token = await this.registrations.presentedToken(value, originOf(Provider.ctx));
    if (!token) return undefined;
    const epoch = (date: Date) => Math.floor(date.getTime() / 1000);
    return { jti: value, kind: 'InitialAccessToken', iat: epoch(token.createdAt), exp: epoch(token.expiresAt), policies: [policyHook] } as AdapterPayload;
  }
  async upsert(): Promise<void> {
    throw new Error('initial access tokens are minted by operators (`gatehouse iat create`), not by the provider');
  }
  async destroy(): Promise<void> {
    throw new Error('initial access tokens are revoked by operators (`gatehouse iat revoke`), not by the provider');
  }
}

/**
 * An Interaction started while the user is signed in copies the session into
 * its payload, the session id included (`session.cookie`, the `_session`
 * cookie's value: oidc-provider 9.13.3 lib/models/interaction.js). The library
 * writes that field and never reads it back, so only its hash is kept
 * (DESIGN invariant 1): it still ties an interaction row to its session row,
 * whose key is the same hash.
 */
function withoutSessionId(model: string, payload: ArtifactPayload): ArtifactPayload {
  const session = payload.session as { cookie?: unknown } | undefined;
  if (model !== 'Interaction' || typeof session?.cookie !== 'string' || /^sha256:/.test(session.cookie)) return payload;
  return { ...payload, session: { ...session, cookie: `sha256:${sha256(session.cookie).toString('base64url')}` } };
}

class ArtifactAdapter implements Adapter {
  constructor(private readonly model: string, private readonly store: ArtifactStore) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    // Values the library decoded itself (a request object's claims, a DPoP proof) are past the edge's
    // checks; jsonb refuses NUL and lone surrogates, and that is the client's mistake, not ours.
    if (holdsUnstorableText(payload)) throw new errors.InvalidRequest('the request holds text that is not valid (a NUL character or broken Unicode)');
    await this.store.upsert(this.model, id, withoutSessionId(this.model, payload as ArtifactPayload), Number.isFinite(expiresIn) ? expiresIn : undefined);
  }

  async find(id: string) {
    return (await this.store.find(this.model, id)) as AdapterPayload | undefined;
  }

  async findByUid(uid: string) {
    return (await this.store.findSessionByUid(uid)) as AdapterPayload | undefined;
  }

  async findByUserCode(userCode: string) {
    return (await this.store.findByUserCode(this.model, userCode)) as AdapterPayload | undefined;
  }

  /**
   * The library checks `consumed` and then consumes, two steps another request
   * can interleave with. Consuming with one conditional UPDATE makes the second
   * of two racing exchanges lose: it is a replay, so the grant dies with it.
   */
  async consume(id: string) {
    const result = await this.store.consume(this.model, id);
    if (result.consumed) return;
    if (result.grantId) await this.store.revokeGrant(result.grantId);
    throw new errors.InvalidGrant('grant request is invalid');
  }

  async destroy(id: string) {
    await this.store.destroy(this.model, id);
  }

  async revokeByGrantId(grantId: string) {
    if (grantable.has(this.model)) await this.store.revokeByGrantId(this.model, grantId);
  }
}

export function createAdapterFactory(deps: { artifacts: ArtifactStore; clients: ClientService; registrations: RegistrationService; clientPolicy?: ClientPolicy }) {
  const clientAdapter = new ClientAdapter(deps.clients, deps.registrations, deps.clientPolicy ?? ((metadata) => metadata));
  const iatAdapter = new InitialAccessTokenAdapter(deps.registrations);
  const adapters = new Map<string, Adapter>();
  return (model: string): Adapter => {
    if (model === 'Client') return clientAdapter;
    if (model === 'InitialAccessToken') return iatAdapter;
    let adapter = adapters.get(model);
    if (!adapter) {
      adapter = new ArtifactAdapter(model, deps.artifacts);
      adapters.set(model, adapter);
    }
    return adapter;
  };
}
