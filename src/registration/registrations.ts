/**
 * The rules of dynamic registration, between oidc-provider (which speaks the
 * protocol) and storage. Every registered client is written here, in one
 * transaction that counts the initial access token's use, judges the
 * validated metadata against the policy, enforces the per-token cap and stores
 * the client with its secret sealed; so a refused registration uses nothing up,
 * and two racing registrations cannot overrun a token's uses or cap.
 */
import type { Audit, AuditEvent } from '../audit/events.js';
import { generateClientSecret, type ClientService } from '../clients/clients.js';
import type { Db } from '../db/index.js';
import { holdsUnstorableText } from '../db/storable-text.js';
import { RegistrationError } from './errors.js';
import type { IatService, InitialAccessToken } from './initial-access-tokens.js';
import type { PolicyService } from './policies.js';
import { applyPolicyDefaults, baselinePolicy, metadataViolation, type PolicyRules, type ResourceScopes } from './policy.js';
import { apiScopesOf } from './registered-scope.js';
import type { SoftwareStatementVerifier } from './software-statement.js';
import type { UsageStore } from './usage-store.js';

/** `token`: an initial access token is required; `open`: anyone may register (baseline policy); `off`: no endpoint. */
export type RegistrationMode = 'token' | 'open' | 'off';

/** Where a request came from, for the audit log. */
export interface RequestOrigin {
  ip?: string | undefined;
  requestId?: string | undefined;
}

export interface PrepareRequest extends RequestOrigin {
  /** A registration: the initial access token presented. */
  initialAccessToken?: string | undefined;
  /** An update: the registered client. */
  clientId?: string | undefined;
  /** oidc-provider's rule for which metadata needs a client secret (auth method, HMAC algorithms). */
  needsSecret: (metadata: Record<string, unknown>) => boolean;
}

export interface RegistrationDeps {
  db: Db;
  mode: RegistrationMode;
  /** The policy registrations without an initial access token answer to (open registration); null: the baseline. */
  openPolicy: string | null;
  usage: Pick<UsageStore, 'countBySoftware'>;
  clients: ClientService;
  policies: PolicyService;
  iats: IatService;
  audit: Audit;
  verifySoftwareStatement: SoftwareStatementVerifier;
  /** The scopes of the resource servers with these audiences (a missing one: none), read outside any transaction. */
  resourceScopes(audiences: readonly string[]): Promise<ResourceScopes>;
}

const unusableToken = () => new RegistrationError('invalid_token', 'initial access token is expired, revoked or used up');

/** Facts about a client worth an audit line; never its secret. */
function describe(metadata: Record<string, unknown>) {
  return {
    clientName: metadata.client_name,
    grantTypes: metadata.grant_types,
    authMethod: metadata.token_endpoint_auth_method,
    redirectUris: metadata.redirect_uris,
    scope: metadata.scope,
    allowedScopes: metadata.allowed_scopes,
  };
}

export interface RegistrationService {
  mode: RegistrationMode;
  /**
  * The token behind a value presented at the registration endpoint, if it may
  * register a client now. A refusal of a token the operator minted is audited
  * with the reason (an unknown value has no row to name).
  */
  presentedToken(value: string, origin: RequestOrigin): Promise<InitialAccessToken | undefined>;
  /**
  * The policy's first step, on the raw request before the library validates
  * it (a registration presenting `initialAccessToken`, or an update of
  * `clientId`): a software statement's claims replace the plain values
  * (RFC 7591 §2.3), the policy's defaults fill gaps, and a fresh secret with
  * the policy's lifetime is issued (on an update too: RFC 7592 §2.2 lets the
  * server rotate it, and the client must then use the new one).
  */
  prepare(properties: Record<string, unknown>, request: PrepareRequest): Promise<void>;
  /** Stores a client the library validated at the registration endpoint. */
  register(clientId: string, metadata: Record<string, unknown>, request: RequestOrigin & {
    initialAccessToken: string | undefined;
  }): Promise<void>;
  /** Stores an update (RFC 7592) the library validated; the policy the client was registered under still applies. */
  update(clientId: string, metadata: Record<string, unknown>, origin: RequestOrigin): Promise<void>;
  /** RFC 7592 delete: the client removes itself. */
  remove(clientId: string, origin: RequestOrigin): Promise<void>;
}

export function createRegistrationService(deps: RegistrationDeps): RegistrationService {
  const { db, mode, clients, policies, iats, audit } = deps;
  const record = (event: AuditEvent, origin: RequestOrigin) => audit.record({ ...event, ...origin });

  function rejected(error: unknown, event: Omit<AuditEvent, 'outcome'>, origin: RequestOrigin): never {
    if (error instanceof RegistrationError) {
      record({ ...event, outcome: 'failure', detail: { ...event.detail, error: error.code, description: error.description } }, origin);
    }
    throw error;
  }

  /** A token's policy, or the open-registration one, which an operator may have removed since start-up. */
  async function openRules(name: string, tx: Parameters<PolicyService['rules']>[1]): Promise<PolicyRules> {
    try {
      return await policies.rules(name, tx);
    } catch (error) {
      // Inside the transaction, so no second query on another connection (the embedded database has one).
      if (name === deps.openPolicy) throw new RegistrationError('invalid_client_metadata', 'open registration is not available: its registration policy is not defined');
      throw error;
    }
  }

  /**
   * The scopes of every resource server a registration could name, looked up only when it names API scopes.
   * Before the transaction: the embedded database has one connection, which the transaction holds.
   */
  async function scopesFor(metadata: Record<string, unknown>, fallback: readonly string[]): Promise<ResourceScopes> {
    if (apiScopesOf(metadata).length === 0) return new Map();
    const named = Array.isArray(metadata.resources) ? metadata.resources.filter((r): r is string => typeof r === 'string') : [];
    return deps.resourceScopes([...new Set([...named, ...fallback])]);
  }

  /** The open policy's resources, or none when it is not defined (the transaction then refuses with its reason). */
  async function openPolicyResources(): Promise<readonly string[]> {
    try {
      return (await policies.rules(deps.openPolicy!)).resources;
    } catch {
      return [];
    }
  }

  async function rulesFor(request: { initialAccessToken?: string | undefined; clientId?: string | undefined }): Promise<PolicyRules> {
    if (request.clientId !== undefined) {
      const registration = await clients.registrationOf(request.clientId);
      // Only registered clients hold registration access tokens, so this is a client that was just removed.
      if (!registration) throw new RegistrationError('invalid_token', 'the client is no longer registered');
      return policies.rules(registration.policy);
    }
    if (request.initialAccessToken === undefined) return baselinePolicy;
    const token = await iats.findUsable(request.initialAccessToken);
    if (!token) throw unusableToken();
    return policies.rules(token.policy);
  }

  return {
    mode,

    /**
     * The token behind a value presented at the registration endpoint, if it may
     * register a client now. A refusal of a token the operator minted is audited
     * with the reason (an unknown value has no row to name).
     */
    async presentedToken(value: string, origin: RequestOrigin): Promise<InitialAccessToken | undefined> {
      const usable = await iats.findUsable(value);
      if (usable) return usable;
      const known = await iats.findPresented(value);
      record({ type: 'iat.rejected', outcome: 'failure', subject: known?.id, detail: { reason: known?.status ?? 'unknown' } }, origin);
      return undefined;
    },

    /**
     * The policy's first step, on the raw request before the library validates
     * it (a registration presenting `initialAccessToken`, or an update of
     * `clientId`): a software statement's claims replace the plain values
     * (RFC 7591 §2.3), the policy's defaults fill gaps, and a fresh secret with
     * the policy's lifetime is issued (on an update too: RFC 7592 §2.2 lets the
     * server rotate it, and the client must then use the new one).
     */
    async prepare(properties: Record<string, unknown>, request: PrepareRequest): Promise<void> {
      const { initialAccessToken, clientId, needsSecret, ...origin } = request;
      try {
        const rules = await rulesFor(request);
        if (properties.software_statement !== undefined) {
          const statement = await deps.verifySoftwareStatement(properties.software_statement);
          delete properties.software_statement;
          Object.assign(properties, statement.metadata);
          record({ type: 'software_statement.accepted', outcome: 'success', subject: statement.issuer, clientId, detail: { softwareId: statement.softwareId } }, origin);
        } else if (rules.requireSoftwareStatement) {
          throw new RegistrationError('invalid_client_metadata', 'software_statement is required by the registration policy');
        }
        // Any string, the software statement's included: the database could not store it.
        if (holdsUnstorableText(properties)) throw new RegistrationError('invalid_client_metadata', 'client metadata must not hold NUL characters or broken Unicode');
        applyPolicyDefaults(rules, properties);
        if (needsSecret(properties)) {
          properties.client_secret = generateClientSecret();
          properties.client_secret_expires_at = rules.secretLifetimeSeconds ? Math.floor(Date.now() / 1000) + rules.secretLifetimeSeconds : 0;
        } else {
          delete properties.client_secret;
          delete properties.client_secret_expires_at;
        }
      } catch (error) {
        const token = initialAccessToken === undefined ? undefined : await iats.findPresented(initialAccessToken);
        rejected(error, { type: clientId ? 'client.update_rejected' : 'client.registration_rejected', actor: clientId ?? (token ? `iat:${token.id}` : 'anonymous'), subject: clientId, clientId }, origin);
      }
    },

    /** Stores a client the library validated at the registration endpoint. */
    async register(clientId: string, metadata: Record<string, unknown>, request: RequestOrigin & { initialAccessToken: string | undefined }): Promise<void> {
      const { initialAccessToken, ...origin } = request;
      let token: InitialAccessToken | undefined;
      try {
        // An open registration's resources may still be the open policy's default, filled in below.
        const resourceScopes = await scopesFor(metadata, initialAccessToken === undefined && deps.openPolicy !== null ? await openPolicyResources() : []);
        const policy = await db.transaction(async (tx) => {
          if (initialAccessToken !== undefined) {
            token = await iats.consumeUse(tx, initialAccessToken);
            if (!token) throw unusableToken();
          } else if (mode !== 'open') {
            throw new RegistrationError('invalid_token', 'an initial access token is required');
          }
          const name = token ? token.policy : deps.openPolicy;
          const rules = name === null ? baselinePolicy : await openRules(name, tx);
          // No library policy ran for a registration without a token (lib/helpers/configuration.js): the open
          // registration policy's defaults apply here instead. (The baseline keeps asking the client to say what it needs.)
          if (!token && name !== null) {
            metadata.scope ??= rules.scopes.join(' ');
            metadata.resources ??= rules.resources;
          }
          const violation = metadataViolation(rules, metadata, resourceScopes);
          if (violation) throw violation;
          const cap = rules.maxClientsPerToken;
          if (token && cap !== undefined && (await clients.countRegisteredBy(tx, token.id)) >= cap) {
            throw new RegistrationError('invalid_client_metadata', `the registration policy allows ${cap} client${cap === 1 ? '' : 's'} per initial access token, and this token has registered ${cap}`);
          }
          const perSoftware = rules.maxClientsPerSoftware;
          if (name !== null && perSoftware !== undefined) {
            if (typeof metadata.software_id !== 'string' || !metadata.software_id) throw new RegistrationError('invalid_client_metadata', 'software_id is required by the registration policy');
            if ((await deps.usage.countBySoftware(tx, name, metadata.software_id)) >= perSoftware) {
              throw new RegistrationError('invalid_client_metadata', `the registration policy allows ${perSoftware} client${perSoftware === 1 ? '' : 's'} per software_id, and ${metadata.software_id} has registered ${perSoftware}`);
            }
          }
          await clients.insertRegistered(tx, { clientId, metadata, registeredBy: token?.id ?? null, policy: name });
          return name;
        });
        record({ type: 'client.registered', outcome: 'success', actor: token ? `iat:${token.id}` : 'anonymous', subject: clientId, clientId, detail: { initialAccessToken: token?.id ?? null, policy, ...describe(metadata) } }, origin);
        if (token) record({ type: 'iat.used', outcome: 'success', subject: token.id, clientId, detail: { uses: token.uses, maxUses: token.maxUses } }, origin);
      } catch (error) {
        rejected(error, { type: 'client.registration_rejected', actor: token ? `iat:${token.id}` : 'anonymous', detail: { initialAccessToken: token?.id ?? null } }, origin);
      }
    },

    /** Stores an update (RFC 7592) the library validated; the policy the client was registered under still applies. */
    async update(clientId: string, metadata: Record<string, unknown>, origin: RequestOrigin): Promise<void> {
      try {
        const resourceScopes = await scopesFor(metadata, []);
        const { secretRotated } = await db.transaction(async (tx) => {
          const registration = await clients.lockRegistered(tx, clientId);
          if (!registration) throw new RegistrationError('invalid_token', 'the client is no longer registered');
          const rules = registration.policy === null ? baselinePolicy : await policies.rules(registration.policy, tx);
          const violation = metadataViolation(rules, metadata, resourceScopes);
          if (violation) throw violation;
          return clients.replaceRegistered(tx, clientId, metadata);
        });
        record({ type: 'client.updated', outcome: 'success', actor: clientId, subject: clientId, clientId, detail: describe(metadata) }, origin);
        if (secretRotated) record({ type: 'client.secret_rotated', outcome: 'success', actor: clientId, subject: clientId, clientId }, origin);
      } catch (error) {
        rejected(error, { type: 'client.update_rejected', actor: clientId, subject: clientId, clientId }, origin);
      }
    },

    /** RFC 7592 delete: the client removes itself. */
    async remove(clientId: string, origin: RequestOrigin): Promise<void> {
      await clients.removeRegistered(clientId);
      record({ type: 'client.deleted', outcome: 'success', actor: clientId, subject: clientId, clientId }, origin);
    },
  };
}

