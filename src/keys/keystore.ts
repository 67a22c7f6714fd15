/**
 * The signing keystore: keys live in the database (private halves sealed under
 * the master secret), their state follows from time (lifecycle.ts), and every
 * change is announced on the `gatehouse_keys` channel so each node reloads its
 * provider within moments; the periodic check in watcher.ts covers a lost
 * notification.
 */
import type { JWK } from 'jose';

import { recordAs, system, type Actor, type Audit } from '../audit/events.js';
import { advisoryLocks, type Db } from '../db/index.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { generateSigningKey, signingAlgorithms, type SigningAlgorithm } from './generate.js';
import { isPublished, keyStatuses, nextTransition, type KeyStatus } from './lifecycle.js';
import { createSigningKeyStore, toRecord, type SigningKeyRow } from './store.js';

export { signingAlgorithms, type SigningAlgorithm };

export const keyChangeChannel = 'gatehouse_keys';

export interface PrivateJwk extends JWK {
  kid: string;
  alg: string;
  use: 'sig';
}

export interface KeySet {
  /** Private JWKs for oidc-provider: the active key of each algorithm first; next and retired keys carry key_ops ['verify'], so they verify but never sign. */
  jwks: { keys: PrivateJwk[] };
  /** What /jwks publishes: public members only, without key_ops (RFC 7517 §4.3: not together with `use`). */
  publicJwks: { keys: JWK[] };
  /** Fingerprint of kids and effective states: equal versions mean an identical provider. */
  version: string;
  /** When this set stops being right (an activation or unpublication is due). */
  validUntil: Date | undefined;
  statuses: KeyStatus[];
}

export interface KeystoreSettings {
  algorithms: readonly SigningAlgorithm[];
  rotationIntervalSeconds: number;
  publishDelaySeconds: number;
}

export class KeystoreError extends Error {
  override name = 'KeystoreError';
}

export interface KeystoreDeps {
  db: Db;
  secrets: SecretBox;
  settings: KeystoreSettings;
  /** Longest lifetime of anything a key signs (ID tokens, JWT access tokens) plus clock skew. */
  retentionSeconds: () => Promise<number>;
  /** Every lifecycle change is recorded here (`key.rotated`, `key.retired`, `key.revoked`, and the schedule's `key.created`, `key.removed`). */
  audit: Audit;
}

type Successor = { kid: string; how: 'promoted' | 'created' };

export interface Keystore {
  /**
  * On first start (or after every key of an algorithm was revoked) creates an
  * active key per configured algorithm, under the key lock so nodes starting
  * together create one key, not one each.
  */
  ensureActiveKeys(now?: Date): Promise<string[]>;
  load(now?: Date): Promise<KeySet>;
  list(now?: Date): Promise<KeyStatus[]>;
  /**
  * Stages a new key: published now, signing after the publish delay (so
  * every JWKS cache has it first). With `immediate`, it signs at once: for
  * when the operator accepts that a relying party with a stale JWKS cache
  * will briefly see an unknown kid.
  */
  rotate(actor: Actor, options?: {
    alg?: SigningAlgorithm;
    immediate?: boolean;
  }, now?: Date): Promise<{
    kid: string;
    alg: SigningAlgorithm;
    activateAt: Date;
  }>;
  /** Stops a key signing now; it stays published until its tokens expire. A successor signs in its place. */
  retire: (actor: Actor, kid: string, now?: Date) => Promise<{
    successor?: Successor;
  }>;
  /** Removes a compromised key from the JWKS at once: every token it signed stops verifying. */
  revoke: (actor: Actor, kid: string, now?: Date) => Promise<{
    successor?: Successor;
  }>;
  /**
  * The scheduled rotation, run by whichever node takes the lock first (the
  * others skip): stages a successor so it is published for the publish delay
  * before the active key's interval ends, and deletes keys whose tokens have
  * all expired. Returns what it did, or undefined when another node held the lock.
  */
  runSchedule(now?: Date): Promise<{
    staged: string[];
    removed: string[];
  } | undefined>;
  /** Re-seals every private key still under a previous master secret; returns how many. */
  rewrap(onProgress?: (done: number, total: number) => void): Promise<number>;
  /** For metrics: per algorithm, the active key's age and the time until it is due to be replaced. */
  status(now?: Date): Promise<Array<{
    alg: string;
    kid: string;
    ageSeconds: number;
    secondsToRotation: number;
  }>>;
}

export function createKeystore(deps: KeystoreDeps): Keystore {
  const { db, secrets, settings } = deps;
  const store = createSigningKeyStore(db);
  const record = (actor: Actor, type: string, kid: string, detail: Record<string, unknown>) => recordAs(deps.audit, actor, { type, subject: kid, detail });
  const announce = (reason: string) => db.notify(keyChangeChannel, reason);

  async function statuses(now: Date): Promise<{ rows: SigningKeyRow[]; statuses: KeyStatus[]; retention: number }> {
    const [rows, retention] = await Promise.all([store.list(), deps.retentionSeconds()]);
    return { rows, statuses: keyStatuses(rows.map(toRecord), now, retention), retention };
  }

  async function insertKey(alg: SigningAlgorithm, activateAt: Date): Promise<string> {
    const key = await generateSigningKey(alg);
    await store.insert({
      kid: key.kid,
      alg,
      public_jwk: key.publicJwk as Record<string, unknown>,
      private_ciphertext: secrets.seal('signing-key', key.kid, JSON.stringify(key.privateJwk)),
      activate_at: activateAt,
    });
    return key.kid;
  }

  /** Makes sure `alg` has a signer after `outgoing` stops: promotes the earliest staged key, or creates one active now. */
  async function ensureSuccessor(alg: string, outgoing: string, now: Date, all: KeyStatus[]): Promise<Successor> {
    const staged = all.filter((s) => s.alg === alg && s.state === 'next' && s.kid !== outgoing).sort((a, b) => a.activateAt.getTime() - b.activateAt.getTime())[0];
    if (staged) {
      await store.setActivateAt(staged.kid, now);
      return { kid: staged.kid, how: 'promoted' };
    }
    return { kid: await insertKey(alg as SigningAlgorithm, now), how: 'created' };
  }

  /** Retire and revoke: the key stops signing (or verifying) now, and a successor signs in its place. */
  async function withdraw(actor: Actor, kid: string, now: Date, to: 'retired' | 'revoked'): Promise<{ successor?: Successor }> {
    const result = await locked(async () => {
      const { statuses: all } = await statuses(now);
      const key = all.find((s) => s.kid === kid);
      if (!key) throw new KeystoreError(`no key ${kid}`);
      const done: readonly string[] = to === 'revoked' ? ['revoked'] : ['revoked', 'expired', 'retired'];
      if (done.includes(key.state)) throw new KeystoreError(`key ${kid} is already ${key.state}`);
      const successor = key.state === 'active' ? await ensureSuccessor(key.alg, kid, now, all) : undefined;
      if (to === 'revoked') await store.setRevokedAt(kid, now);
      else await store.setRetiredAt(kid, now);
      // One event per operator action: the successor is part of it, not an event of its own.
      record(actor, `key.${to}`, kid, { alg: key.alg, ...(successor ? { successor: successor.kid, successor_was: successor.how } : {}) });
      return successor ? { successor } : {};
    });
    await announce(to === 'revoked' ? 'revoke' : 'retire');
    return result;
  }

  async function locked<T>(fn: () => Promise<T>): Promise<T> {
    const result = await db.withAdvisoryLock(advisoryLocks.keyRotation, fn);
    if (!result.acquired) throw new KeystoreError('could not take the key lock');
    return result.value;
  }

  function decrypt(row: SigningKeyRow, active: boolean): PrivateJwk {
    const jwk = JSON.parse(secrets.open('signing-key', row.kid, row.private_ciphertext)) as PrivateJwk;
    return active ? jwk : { ...jwk, key_ops: ['verify'] };
  }

  return {
    /**
     * On first start (or after every key of an algorithm was revoked) creates an
     * active key per configured algorithm, under the key lock so nodes starting
     * together create one key, not one each.
     */
    async ensureActiveKeys(now = new Date()): Promise<string[]> {
      return locked(async () => {
        const { statuses: all } = await statuses(now);
        const created: string[] = [];
        for (const alg of settings.algorithms) {
          if (all.some((s) => s.alg === alg && s.state === 'active')) continue;
          const staged = all.find((s) => s.alg === alg && s.state === 'next');
          if (staged) {
            await store.setActivateAt(staged.kid, now);
            record(system, 'key.activated', staged.kid, { alg, early: true });
            created.push(staged.kid);
          } else {
            const kid = await insertKey(alg, now);
            record(system, 'key.created', kid, { alg, activateAt: now.toISOString() });
            created.push(kid);
          }
        }
        if (created.length) await announce('bootstrap');
        return created;
      });
    },

    async load(now = new Date()): Promise<KeySet> {
      const { rows, statuses: all, retention } = await statuses(now);
      const published = all.filter(isPublished);
      const active = published.filter((s) => s.state === 'active');
      if (active.length === 0) throw new KeystoreError('no active signing key');
      const rowByKid = new Map(rows.map((r) => [r.kid, r]));
      // ES256 signs by default (clientDefaults), so its active key leads; the rest follow.
      const ordered = [...active.sort((a, b) => Number(b.alg === 'ES256') - Number(a.alg === 'ES256')), ...published.filter((s) => s.state !== 'active')];
      return {
        jwks: { keys: ordered.map((s) => decrypt(rowByKid.get(s.kid)!, s.state === 'active')) },
        publicJwks: { keys: ordered.map((s) => rowByKid.get(s.kid)!.public_jwk as JWK) },
        version: ordered.map((s) => `${s.kid}:${s.state}`).join(','),
        validUntil: nextTransition(rows.map(toRecord), now, retention),
        statuses: all,
      };
    },

    async list(now = new Date()): Promise<KeyStatus[]> {
      return (await statuses(now)).statuses;
    },

    /**
     * Stages a new key: published now, signing after the publish delay (so
     * every JWKS cache has it first). With `immediate`, it signs at once: for
     * when the operator accepts that a relying party with a stale JWKS cache
     * will briefly see an unknown kid.
     */
    async rotate(actor: Actor, options: { alg?: SigningAlgorithm; immediate?: boolean } = {}, now = new Date()): Promise<{ kid: string; alg: SigningAlgorithm; activateAt: Date }> {
      const alg = options.alg ?? 'ES256';
      const immediate = options.immediate === true;
      const activateAt = immediate ? now : new Date(now.getTime() + settings.publishDelaySeconds * 1000);
      const kid = await locked(() => insertKey(alg, activateAt));
      record(actor, 'key.rotated', kid, { alg, immediate, activate_at: activateAt.toISOString() });
      await announce('rotate');
      return { kid, alg, activateAt };
    },

    /** Stops a key signing now; it stays published until its tokens expire. A successor signs in its place. */
    retire: (actor: Actor, kid: string, now = new Date()) => withdraw(actor, kid, now, 'retired'),

    /** Removes a compromised key from the JWKS at once: every token it signed stops verifying. */
    revoke: (actor: Actor, kid: string, now = new Date()) => withdraw(actor, kid, now, 'revoked'),

    /**
     * The scheduled rotation, run by whichever node takes the lock first (the
     * others skip): stages a successor so it is published for the publish delay
     * before the active key's interval ends, and deletes keys whose tokens have
     * all expired. Returns what it did, or undefined when another node held the lock.
     */
    async runSchedule(now = new Date()): Promise<{ staged: string[]; removed: string[] } | undefined> {
      const result = await db.withAdvisoryLock(advisoryLocks.keyRotation, async () => {
        const { statuses: all } = await statuses(now);
        const staged: string[] = [];
        for (const alg of settings.algorithms) {
          const active = all.find((s) => s.alg === alg && s.state === 'active');
          if (!active || all.some((s) => s.alg === alg && s.state === 'next')) continue;
          const due = active.activateAt.getTime() + settings.rotationIntervalSeconds * 1000;
          if (due - settings.publishDelaySeconds * 1000 > now.getTime()) continue;
          const activateAt = new Date(Math.max(due, now.getTime() + settings.publishDelaySeconds * 1000));
          const kid = await insertKey(alg, activateAt);
          record(system, 'key.created', kid, { alg, activateAt: activateAt.toISOString() });
          staged.push(kid);
        }
        const expired = all.filter((s) => s.state === 'expired');
        await store.remove(expired.map((s) => s.kid));
        for (const s of expired) record(system, 'key.removed', s.kid, { alg: s.alg });
        return { staged, removed: expired.map((s) => s.kid) };
      }, { wait: false });
      if (!result.acquired) return undefined;
      if (result.value.staged.length || result.value.removed.length) await announce('schedule');
      return result.value;
    },

    /** Re-seals every private key still under a previous master secret; returns how many. */
    async rewrap(onProgress?: (done: number, total: number) => void): Promise<number> {
      const rows = (await store.list()).filter((r) => secrets.keyIdOf(r.private_ciphertext) !== secrets.currentKeyId);
      let done = 0;
      for (const row of rows) {
        await store.setCiphertext(row.kid, secrets.seal('signing-key', row.kid, secrets.open('signing-key', row.kid, row.private_ciphertext)));
        done += 1;
        onProgress?.(done, rows.length);
      }
      return done;
    },

    /** For metrics: per algorithm, the active key's age and the time until it is due to be replaced. */
    async status(now = new Date()): Promise<Array<{ alg: string; kid: string; ageSeconds: number; secondsToRotation: number }>> {
      const { statuses: all } = await statuses(now);
      return all
        .filter((s) => s.state === 'active')
        .map((s) => {
          const staged = all.find((n) => n.alg === s.alg && n.state === 'next');
          const rotation = staged ? staged.activateAt.getTime() : s.activateAt.getTime() + settings.rotationIntervalSeconds * 1000;
          return { alg: s.alg, kid: s.kid, ageSeconds: Math.floor((now.getTime() - s.activateAt.getTime()) / 1000), secondsToRotation: Math.max(0, Math.floor((rotation - now.getTime()) / 1000)) };
        });
    },
  };
}

