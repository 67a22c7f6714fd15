import { createAccountService } from './accounts/accounts.js';
import { createLockout } from './accounts/lockout.js';
import { createArtifactStore } from './artifacts/store.js';
import { createClientService } from './clients/clients.js';
import type { Config } from './config/index.js';
import type { Db } from './db/index.js';
import { createKeystore, type KeyEvent } from './keys/keystore.js';
import { createMfaService } from './mfa/mfa.js';
import { createPendingSignIns } from './mfa/sign-ins.js';
import { createRegistrationServices } from './registration/index.js';
import { createReplayService } from './replay/replay.js';
import { createResourceService } from './resources/resources.js';
import type { SecretBox } from './crypto/secret-box.js';
import { noAudit, type Audit } from './audit/events.js';

/** Clock skew allowed on top of token lifetimes before a retired key leaves the JWKS. */
const keyRetentionSkewSeconds = 60;

export interface ServiceHooks {
  onKeyEvent?: (event: KeyEvent) => void | Promise<void>;
  /** Where security events go; the server wires the hash-chained audit log here. */
  audit?: Audit;
}

/** The service layer, built once per process and shared by the server and the CLI. */
export function createServices(db: Db, config: Pick<Config, 'argon2' | 'ttl' | 'keys' | 'lockout' | 'mfa' | 'registration'>, secrets: SecretBox, hooks: ServiceHooks = {}) {
  const resources = createResourceService(db);
  const audit = hooks.audit ?? noAudit;
  const clients = createClientService(db, secrets);
  const lockout = createLockout(db, config.lockout, secrets.deriveKey('lockout-login-bucket'));
  const mfa = createMfaService({ db, secrets, lockout, totpIssuer: config.mfa.totpIssuer });
  const keystore = createKeystore({
    db,
    secrets,
    settings: config.keys,
    retentionSeconds: async () =>
      Math.max(config.ttl.idToken, config.ttl.accessToken, config.ttl.clientCredentials, await resources.maxAccessTokenTtl()) + keyRetentionSkewSeconds,
    ...(hooks.onKeyEvent ? { onEvent: hooks.onKeyEvent } : {}),
  });
  // Every service that stores something sealed under the master secret, for `gatehouse keys rewrap`.
  const sealedSecretHolders: Record<string, (onProgress: (done: number, total: number) => void) => Promise<number>> = {
    'signing keys': (p) => keystore.rewrap(p),
    'second factors': (p) => mfa.rewrap(p),
    'client secrets': (p) => clients.rewrap(p),
  };
  return {
    audit,
    /** Re-seals everything still under a previous master secret; returns counts per holder. */
    async rewrapSealedSecrets(onProgress: (holder: string, done: number, total: number) => void = () => {}): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (const [holder, rewrap] of Object.entries(sealedSecretHolders)) counts[holder] = await rewrap((done, total) => onProgress(holder, done, total));
      return counts;
    },
    accounts: createAccountService(db, config.argon2, lockout),
    lockout,
    mfa,
    pendingSignIns: createPendingSignIns(db, secrets),
    clients,
    ...createRegistrationServices({ db, clients, audit, settings: config.registration }),
    resources,
    keystore,
    artifacts: createArtifactStore(db),
    /** One-time use of proof JWT ids (DPoP proofs, client assertions), shared by all nodes. */
    replay: createReplayService(db),
  };
}

export type Services = ReturnType<typeof createServices>;
