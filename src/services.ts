/**
 * The service layer as one declared interface: built once per process by the
 * composition root (src/core.ts) and shared by the server, the CLI and the
 * tests. Every service that changes state records its own audit event with
 * the actor it is given (DESIGN invariant 5).
 */
import { createAccountService, type Account, type AccountService } from './accounts/accounts.js';
import { createSelfService, type SelfService } from './accounts/self-service.js';
import { createLockout, type Lockout } from './accounts/lockout.js';
import { createApiKeyService, type ApiKeyService } from './api-keys/api-keys.js';
import { createIdempotencyStore, type IdempotencyStore } from './artifacts/idempotency-store.js';
import { createArtifactStore, type ArtifactStore } from './artifacts/store.js';
import { recordAs, type Actor, type Audit } from './audit/events.js';
import { createConsoleSessions, type ConsoleSessions } from './console-sessions/console-sessions.js';
import { createClientService, type ClientService } from './clients/clients.js';
import { createClientSecretService, type ClientSecretService } from './clients/secret-rotation.js';
import type { Config } from './config/index.js';
import type { SecretBox } from './crypto/secret-box.js';
import type { LimiterFactory } from './db/counters.js';
import { createDeviceFlowGuards, type DeviceFlowGuards } from './device/guards.js';
import type { Db } from './db/index.js';
import { createFederatedSignIns, type FederatedSignIns } from './federation/sign-ins.js';
import { createUpstreamClient } from './federation/upstream-client.js';
import { createLinkService, type LinkService } from './federation/links.js';
import { createUpstreamLogout, type UpstreamLogout } from './federation/logout.js';
import { createUpstreamSessionEnd, type UpstreamSessionEnd } from './federation/session-end.js';
import { createUpstreamService, type UpstreamService } from './federation/upstreams.js';
import { createKeystore, type Keystore } from './keys/keystore.js';
import { createMailService, type MailService } from './mail/mail.js';
import { createSecurityNotices, type SecurityNotices } from './mail/notices.js';
import { createPasswordRecovery, type PasswordRecovery } from './mail/recovery.js';
import { createEmailVerification, type EmailVerification } from './mail/verification.js';
import { createMfaService, type MfaService } from './mfa/mfa.js';
import { createPendingSignIns, type PendingSignIns } from './mfa/sign-ins.js';
import { createPasskeyService, type PasskeyService } from './passkeys/passkeys.js';
import { createRegistrationServices } from './registration/index.js';
import type { IatService } from './registration/initial-access-tokens.js';
import type { PolicyService } from './registration/policies.js';
import type { RegistrationService } from './registration/registrations.js';
import { cacheKey as rbacCacheKey } from './rbac/effective.js';
import type { UnusedClientSweep } from './registration/unused-clients.js';
import { createRbacService, type RbacService } from './rbac/rbac.js';
import { createReplayService, type ReplayService } from './replay/replay.js';
import type { Rollups } from './rollups/rollups.js';
import { createResourceService, type ResourceService } from './resources/resources.js';
import { createSetupService, type SetupService } from './setup/setup.js';
import { createInvitationService, type InvitationService } from './signup/invitations.js';
import { createSignupService, type SignupService } from './signup/signups.js';
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
  /** What a signed-in user does to their own account (the /account page, issue 19); the mail service's notices plug in as its notifier. */
  selfService: SelfService;
  pendingSignIns: PendingSignIns;
  clients: ClientService;
  /** Secret rotation with overlap (issue 14). */
  clientSecrets: ClientSecretService;
  registrationPolicies: PolicyService;
  initialAccessTokens: IatService;
  registrations: RegistrationService;
  /** Expiry of registrations nobody uses (policy `expireUnusedAfterSeconds`), run by the cleanup job. */
  unusedClients: UnusedClientSweep;
  resources: ResourceService;
  /** Roles, groups and assignments; effective permissions, cached (issue 15). */
  rbac: RbacService;
  /** Upstream identity providers (issue 20): their configuration, and sign-ins through them. */
  upstreams: UpstreamService;
  /** Upstream identities linked to accounts (CLI, admin API, the account page). */
  federationLinks: LinkService;
  /** Back-channel logout tokens from upstreams (POST /federation/backchannel-logout). */
  upstreamLogout: UpstreamLogout;
  upstreamSessionEnd: UpstreamSessionEnd;
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
  /** Responses of admin API creates sent with Idempotency-Key (src/admin/idempotency.ts). */
  adminIdempotency: IdempotencyStore;
  /** The outbox and its worker's side (issue 19 §3); messages are queued by the services below. */
  mail: MailService;
  /** "Forgot password": reset links by email, with the second factor still required. */
  passwordRecovery: PasswordRecovery;
  emailVerification: EmailVerification;
  /** Self-service sign-up (GATEHOUSE_SIGNUP, issue 19 §5) and the operators' invitations it may require. */
  signups: SignupService;
  invitations: InvitationService;
  /** New-device sign-ins, and (through the audit sink) password and factor changes. */
  notices: SecurityNotices;
  /** RFC 8628's user-code guessing limit and polling interval. */
  deviceFlow: DeviceFlowGuards;
  /** Re-seals everything still under a previous master secret (`gatehouse keys rewrap`); returns counts per holder. */
  rewrapSealedSecrets(actor: Actor, onProgress?: (holder: string, done: number, total: number) => void): Promise<Record<string, number>>;
}

export type ServiceSettings = Pick<Config, 'argon2' | 'passwords' | 'ttl' | 'keys' | 'lockout' | 'deviceFlow' | 'mfa' | 'passkeys' | 'registration' | 'rbac' | 'issuer' | 'federation' | 'mail' | 'signup'>;

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
  const mail = createMailService(db, audit, { enabled: config.mail.enabled, issuer: config.issuer });
  const notices = createSecurityNotices({ db, mail, audit, fingerprintKey: secrets.deriveKey('known-devices'), findAccount: (id) => accounts.findById(id) });
  // Password and factor changes send their notices from their audit events, whichever path made them.
  const noticed = notices.withNotices(audit);
  const passkeys = createPasskeyService({ db, lockout, audit: noticed, settings: config.passkeys });
  const mfa = createMfaService({ db, secrets, lockout, audit: noticed, totpIssuer: config.mfa.totpIssuer, signOut, hasPasskey: passkeys.hasPasskey });
  const accountService = withVerificationOnEmailChange(createAccountService(db, config.argon2, lockout, noticed, signOut, config.passwords), () => emailVerification, config.mail.enabled);
  const emailVerification = createEmailVerification({ db, mail, accounts: accountService, audit, issuer: config.issuer, ttlSeconds: config.mail.verificationTtlSeconds });
  const passwordRecovery = createPasswordRecovery({
    db,
    mail,
    accounts: accountService,
    mfa,
    counters,
    audit,
    settings: { issuer: config.issuer, ttlSeconds: config.mail.resetTtlSeconds, perAccount: config.mail.resetPerAccount, perIp: config.mail.resetPerIp },
  });
  const invitations = createInvitationService({ db, mail, accounts: accountService, audit, settings: { enabled: config.signup.mode === 'invite', issuer: config.issuer, ttlSeconds: config.signup.invitationTtlSeconds } });
  const signups = createSignupService({
    db, mail, accounts: accountService, verification: emailVerification, invitations, counters, audit,
    settings: { mode: config.signup.mode, issuer: config.issuer, perAddress: config.signup.perAddress, perIp: config.signup.perIp },
  });
  const rbac = createRbacService(db, {
    audit,
    claimLimit: config.rbac.claimLimit,
    resourceScopes: async (audience) => (await resources.find(audience))?.scopes,
    userExists: async (id) => (await accountService.findById(id)) !== undefined,
    clientExists: async (id) => (await clients.find(id)) !== undefined,
  });
  // The admin marker is the administrator role (migration 0017): its holder's cached permissions go on every node.
  const accounts: AccountService = {
    ...accountService,
    async setAdmin(actor, idOrLogin, admin) {
      const account = await accountService.setAdmin(actor, idOrLogin, admin);
      await rbac.permissions.cache.invalidate(rbacCacheKey({ kind: 'user', id: account.id }));
      return account;
    },
    async update(actor, id, change, expectedVersion) {
      const account = await accountService.update(actor, id, change, expectedVersion);
      if (account !== 'stale' && change.admin !== undefined) await rbac.permissions.cache.invalidate(rbacCacheKey({ kind: 'user', id: account.id }));
      return account;
    },
  };
  const keystore = createKeystore({
    db,
    secrets,
    audit,
    settings: config.keys,
    retentionSeconds: async () =>
      Math.max(config.ttl.idToken, config.ttl.accessToken, config.ttl.clientCredentials, await resources.maxAccessTokenTtl()) + keyRetentionSkewSeconds,
  });
  const upstreams = createUpstreamService(db, secrets, audit, config.federation);
  const upstreamClient = createUpstreamClient(config.federation);
  const replay = createReplayService(db);
  const upstreamLogout = createUpstreamLogout({ db, audit, upstreams, client: upstreamClient, sessions, replay });
  const artifacts = createArtifactStore(db);
  const upstreamSessionEnd = createUpstreamSessionEnd({ artifacts, secrets, audit, upstreams, client: upstreamClient, issuer: config.issuer });
  const federatedSignIns = createFederatedSignIns({
    db,
    secrets,
    audit,
    accounts,
    upstreams,
    client: upstreamClient,
    redirectUri: `${config.issuer.replace(/\/$/, '')}/federation/callback`,
    rememberUpstreamSession: (issuer, sid, accountId) => upstreamLogout.remember(issuer, sid, accountId, new Date(Date.now() + config.ttl.session * 1000)),
    rememberSignIn: (uid, signIn, ttlSeconds) => upstreamSessionEnd.rememberSignIn(uid, signIn, ttlSeconds),
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
    // No notifier yet: the mail service (issue 19 §3) passes one here.
    selfService: createSelfService({ db, accounts, mfa, passkeys, sessions }),
    rbac,
    lockout,
    mfa,
    passkeys,
    pendingSignIns: createPendingSignIns(db, secrets, audit),
    clients,
    clientSecrets,
    ...createRegistrationServices({ db, clients, resources, audit, settings: config.registration }),
    resources,
    upstreams,
    federationLinks: createLinkService(db, audit, upstreams),
    upstreamLogout,
    upstreamSessionEnd,
    federatedSignIns,
    keystore,
    artifacts,
    accessTokenRevocations: createAccessTokenRevocations(db, audit),
    /** One-time use of proof JWT ids (DPoP proofs, client assertions), shared by all nodes. */
    replay,
    adminIdempotency: createIdempotencyStore(db),
    // Its sealed seeds live an hour at most, so `keys rewrap` leaves them to expire (the previous secret still opens them meanwhile).
    setup: createSetupService({ db, secrets, audit, accounts, mfa }),
    sessions,
    mail,
    passwordRecovery,
    emailVerification,
    signups,
    invitations,
    notices,
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
    deviceFlow: createDeviceFlowGuards(db, counters, { ...config.deviceFlow, windowSeconds: config.lockout.windowSeconds }),
  };
}

/**
 * A changed address is unverified (accounts.updateProfile clears the flag);
 * with mail on, a link goes to the new address straight away, whichever path
 * changed it. An operator who sets `emailVerified: true` with it sends none.
 */
function withVerificationOnEmailChange(accounts: AccountService, verification: () => EmailVerification, enabled: boolean): AccountService {
  if (!enabled) return accounts;
  return {
    ...accounts,
    async updateProfile(actor, id, changes) {
      const before: Account | undefined = await accounts.findById(id);
      const after = await accounts.updateProfile(actor, id, changes);
      if (after.email && !after.emailVerified && after.email.toLowerCase() !== before?.email?.toLowerCase()) await verification().send(actor, after.id);
      return after;
    },
    async update(actor, id, change, expectedVersion) {
      const before: Account | undefined = await accounts.findById(id);
      const after = await accounts.update(actor, id, change, expectedVersion);
      if (after !== 'stale' && after.email && !after.emailVerified && after.email.toLowerCase() !== before?.email?.toLowerCase()) await verification().send(actor, after.id);
      return after;
    },
  };
}
