/**
 * The service layer as one declared interface: built once per process by the
 * composition root (src/core.ts) and shared by the server, the CLI and the
 * tests. Every service that changes state records its own audit event with
 * the actor it is given (DESIGN invariant 5).
 */
import { createAccountService, type AccountService } from './accounts/accounts.js';
import { createLockout, type Lockout } from './accounts/lockout.js';
import { createApiKeyService, type ApiKeyService } from './api-keys/api-keys.js';
import { createArtifactStore, type ArtifactStore } from './artifacts/store.js';
import { recordAs, type Actor, type Audit } from './audit/events.js';
import { createConsoleSessions, type ConsoleSessions } from './console-sessions/console-sessions.js';
import { createClientService, type ClientService } from './clients/clients.js';
import { createClientSecretService, type ClientSecretService } from './clients/secret-rotation.js';
import type { Config } from './config/index.js';
import type { SecretBox } from './crypto/secret-box.js';
import type { LimiterFactory } from './db/counters.js';
import type { Db } from './db/index.js';
import { createFederatedSignIns, type FederatedSignIns } from './federation/sign-ins.js';
import { createUpstreamClient } from './federation/upstream-client.js';
import { createUpstreamService, type UpstreamService } from './federation/upstreams.js';
import { createKeystore, type Keystore } from './keys/keystore.js';
import { createMfaService, type MfaService } from './mfa/mfa.js';
import { createPendingSignIns, type PendingSignIns } from './mfa/sign-ins.js';
import { createPasskeyService, type PasskeyService } from './passkeys/passkeys.js';
import { createRegistrationServices } from './registration/index.js';
import type { IatService } from './registration/initial-access-tokens.js';
import type { PolicyService } from './registration/policies.js';
import type { RegistrationService } from './registration/registrations.js';
import { createRbacService, type RbacService } from './rbac/rbac.js';
import { createReplayService, type ReplayService } from './replay/replay.js';
import type { Rollups } from './rollups/rollups.js';
import { createResourceService, type ResourceService } from './resources/resources.js';
import { createSetupService, type SetupService } from './setup/setup.js';
import { createSessionService, type SessionService, type SignOutReason } from './sessions/sessions.js';
import { createExchangePolicyService, type ExchangePolicyService } from './token-exchange/policies.js';
import { createAccessTokenRevocations, type AccessTokenRevocations } from './tokens/revocation-list.js';

/** Clock skew allowed on top of token lifetimes before a retired key leaves the JWKS. */
const keyRetentionSkewSeconds = 60;

export interface Services {
  /** The trail's sink, for the library's protocol events (src/oidc/audit-events.ts); services record through it themselves. */
  audit: Audit;
  accounts: AccountService;
  lockout: Lockout;
  mfa: MfaService;
  /** WebAuthn credentials: a second factor, or a sign-in without a password. */
  passkeys: PasskeyService;
  pendingSignIns: PendingSignIns;
  clients: ClientService;
  /** Secret rotation with overlap (issue 14). */
  clientSecrets: ClientSecretService;
  registrationPolicies: PolicyService;
  initialAccessTokens: IatService;
  registrations: RegistrationService;
  resources: ResourceService;
  /** Roles, groups and assignments; effective permissions, cached (issue 15). */
  rbac: RbacService;
  /** Upstream identity providers (issue 20): their configuration, and sign-ins through them. */
  upstreams: UpstreamService;
  federatedSignIns: FederatedSignIns;
  keystore: Keystore;
  artifacts: ArtifactStore;
  /** Revoked JWT access token ids, shared by every node (RFC 9068 tokens have no row to delete). */
  accessTokenRevocations: AccessTokenRevocations;
  /** One-time use of proof JWT ids (DPoP proofs, client assertions), shared by all nodes. */
  replay: ReplayService;
  /** First-run links that create the first administrator (issue 16 §4). */
  setup: SetupService;
  /** A user's sessions and grants; revocation that reaches every session, token and client (issue 18). */
  sessions: SessionService;
  /** API keys (issue 18): made, rotated and revoked by operators, exchanged at /token for short-lived JWTs. */
  apiKeys: ApiKeyService;
  /** Per-minute counts of the security signals, shared by all nodes (the console's dashboard, GET /admin/v1/stats). */
  rollups: Rollups;
  /** The admin console's server-side sessions (tokens sealed, ids hashed). */
  consoleSessions: ConsoleSessions;
  /** Which clients may use token exchange (RFC 8693), into which audiences, and whether to impersonate. */
  exchangePolicies: ExchangePolicyService;
  /** Re-seals everything still under a previous master secret (`gatehouse keys rewrap`); returns counts per holder. */
  rewrapSealedSecrets(actor: Actor, onProgress?: (holder: string, done: number, total: number) => void): Promise<Record<string, number>>;
}

export type ServiceSettings = Pick<Config, 'argon2' | 'ttl' | 'keys' | 'lockout' | 'mfa' | 'passkeys' | 'registration' | 'rbac' | 'issuer' | 'federation'>;

/** Only the composition root calls this (the grep in issue 13 holds it to that). */
export function createServices(db: Db, config: ServiceSettings, secrets: SecretBox, audit: Audit, counters: LimiterFactory, rollups: Rollups): Services {
  const resources = createResourceService(db, audit);
  const sessions = createSessionService(db, audit);
  const clients = createClientService(db, secrets, {
    audit,
    resourceExists: async (audience) => (await resources.find(audience)) !== undefined,
    revokeTokens: (actor, clientId) => sessions.revokeClientTokens(actor, clientId),
  });
  const clientSecrets = createClientSecretService(db, secrets, audit, clients.cache);
  const lockout = createLockout(db, config.lockout, secrets.deriveKey('lockout-login-bucket'));
  const signOut = (actor: Actor, accountId: string, reason: SignOutReason) => sessions.signOutEverywhere(actor, accountId, reason);
  const passkeys = createPasskeyService({ db, lockout, audit, settings: config.passkeys });
  const mfa = createMfaService({ db, secrets, lockout, audit, totpIssuer: config.mfa.totpIssuer, signOut, hasPasskey: passkeys.hasPasskey });
  const accounts = createAccountService(db, config.argon2, lockout, audit, signOut);
  const rbac = createRbacService(db, {
    audit,
    claimLimit: config.rbac.claimLimit,
    resourceScopes: async (audience) => (await resources.find(audience))?.scopes,
    userExists: async (id) => (await accounts.findById(id)) !== undefined,
    clientExists: async (id) => (await clients.find(id)) !== undefined,
  });
  const keystore = createKeystore({
    db,
    secrets,
    audit,
    settings: config.keys,
    retentionSeconds: async () =>
      Math.max(config.ttl.idToken, config.ttl.accessToken, config.ttl.clientCredentials, await resources.maxAccessTokenTtl()) + keyRetentionSkewSeconds,
  });
  const upstreams = createUpstreamService(db, secrets, audit, config.federation);
  const federatedSignIns = createFederatedSignIns({
    db,
    secrets,
    audit,
    accounts,
    upstreams,
    client: createUpstreamClient(config.federation),
    redirectUri: `${config.issuer.replace(/\/$/, '')}/federation/callback`,
  });
  // Every service that stores something sealed under the master secret.
  const sealedSecretHolders: Record<string, (onProgress: (done: number, total: number) => void) => Promise<number>> = {
    'signing keys': (p) => keystore.rewrap(p),
    'second factors': (p) => mfa.rewrap(p),
    'client secrets': (p) => clients.rewrap(p),
    'previous client secrets': (p) => clientSecrets.rewrap(p),
    'upstream client secrets': (p) => upstreams.rewrap(p),
  };
  return {
    audit,
    rollups,
    consoleSessions: createConsoleSessions(db, secrets),
    async rewrapSealedSecrets(actor, onProgress = () => {}) {
      const counts: Record<string, number> = {};
      for (const [holder, rewrap] of Object.entries(sealedSecretHolders)) counts[holder] = await rewrap((done, total) => onProgress(holder, done, total));
      recordAs(audit, actor, { type: 'master_key.rewrapped', subject: 'master-key', detail: counts });
      return counts;
    },
    accounts,
    rbac,
    lockout,
    mfa,
    passkeys,
    pendingSignIns: createPendingSignIns(db, secrets, audit),
    clients,
    clientSecrets,
    ...createRegistrationServices({ db, clients, audit, settings: config.registration }),
    resources,
    upstreams,
    federatedSignIns,
    keystore,
    artifacts: createArtifactStore(db),
    accessTokenRevocations: createAccessTokenRevocations(db, audit),
    /** One-time use of proof JWT ids (DPoP proofs, client assertions), shared by all nodes. */
    replay: createReplayService(db),
    // Its sealed seeds live an hour at most, so `keys rewrap` leaves them to expire (the previous secret still opens them meanwhile).
    setup: createSetupService({ db, secrets, audit, accounts, mfa }),
    sessions,
    apiKeys: createApiKeyService({
      db,
      audit,
      counters,
      async ownerStands(owner) {
        if (owner.kind === 'user') return (await accounts.findById(owner.id))?.disabled === false;
        return (await clients.find(owner.id))?.disabled === false;
      },
    }),
    exchangePolicies: createExchangePolicyService({
      db,
      audit,
      clientExists: async (clientId) => (await clients.find(clientId)) !== undefined,
      audienceExists: async (audience) => (await resources.find(audience)) !== undefined,
    }),
  };
}
