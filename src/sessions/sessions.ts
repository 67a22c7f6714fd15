/**
 * A user's sessions and grants, and revocation that propagates (issue 18
 * item 5, issue 14's "a user's sessions and grants"). Sessions and grants are
 * the library's own Session and Grant rows (src/oidc/adapter.ts stores them in
 * oidc_models); a session is named by its `uid`, never by its cookie value,
 * which is only stored hashed.
 *
 * Ending an account's sessions means four things, in one transaction: the
 * session rows go (the browser's cookie then names nothing), the grants go
 * with every opaque token, refresh token and code issued under them, a "not
 * before" cutoff makes the account's JWT access tokens, which are not stored,
 * inactive at introspection, and a back-channel logout token (OpenID Connect
 * Back-Channel Logout 1.0) is queued for every client that registered a
 * `backchannel_logout_uri`; the server's worker (src/oidc/backchannel-logout.ts)
 * delivers it off the request path. The accounts, mfa and clients services
 * call this themselves, so every path (CLI, admin API, pages) gets it.
 */
import { recordAs, system, type Actor, type Audit } from '../audit/events.js';
import { createNamedCache, type NamedCache } from '../db/cache.js';
import type { Db, Queryable } from '../db/index.js';
import { createSessionStore, type LogoutRow, type LogoutTarget, type SessionPayload } from './store.js';

export type { LogoutRow, LogoutTarget };

/** Why an account's sessions ended: the audit detail and the logout queue's `reason`. */
export type SignOutReason = 'sign_out_everywhere' | 'account_disabled' | 'password_changed' | 'second_factor_reset' | 'refresh_token_replay' | 'upstream_logout';

export interface SessionView {
  /** The session's uid: stable for its life, not the cookie (which is a credential). */
  id: string;
  signedInAt: Date | null;
  acr: string | null;
  amr: string[];
  /** Clients the user signed in to in this session. */
  clients: string[];
  expiresAt: Date | null;
}

export interface GrantView {
  id: string;
  clientId: string;
  /** OpenID Connect scopes allowed. */
  scope: string;
  /** Resource server → scopes allowed there. */
  resources: Record<string, string>;
  createdAt: Date | null;
  expiresAt: Date | null;
}

export interface SignOutResult {
  sessions: number;
  grants: number;
  logouts: number;
}

export interface SessionService {
  listSessions(accountId: string): Promise<SessionView[]>;
  listGrants(accountId: string): Promise<GrantView[]>;
  /** Signed-in sessions alive now, across every node (the console's overview). */
  countSignedIn(): Promise<number>;
  /** Ends one session of the account and revokes the grants it holds; false when it is not the account's. */
  revokeSession(actor: Actor, accountId: string, sessionId: string): Promise<boolean>;
  /** Revokes one grant and everything issued under it; false when it is not the account's. */
  revokeGrant(actor: Actor, accountId: string, grantId: string): Promise<boolean>;
  /** Every session, grant and token of the account ends; back-channel logout is queued to its clients. */
  signOutEverywhere(actor: Actor, accountId: string, reason: SignOutReason): Promise<SignOutResult>;
  /** Every grant and token of a client ends (the client was disabled or deleted). */
  revokeClientTokens(actor: Actor, clientId: string): Promise<void>;
  /** Whether a token issued at `issuedAt` (epoch seconds) is past a cutoff that applies to it. */
  isCutOff(token: { accountId?: string | undefined; clientId: string; issuedAt: number; stored?: boolean }): Promise<boolean>;
  /** The back-channel logout queue, for the server's worker. */
  logouts: LogoutQueue;
  /** The cutoff cache, which the server starts (listening for invalidations) and stops. */
  readonly cache: NamedCache<Record<string, number>>;
}

export interface LogoutQueue {
  /** NOTIFY channel the worker listens on for new entries. */
  readonly channel: string;
  /** Queues one logout token (the library's RP-initiated logout, src/oidc/backchannel-logout.ts). */
  enqueue(target: LogoutTarget, reason: string): Promise<void>;
  claimDue(limit: number, leaseSeconds: number): Promise<LogoutRow[]>;
  delivered(entry: LogoutRow): Promise<void>;
  /** `retryInSeconds` undefined: the last attempt failed, the entry is given up (and audited). */
  failed(entry: LogoutRow, error: string, retryInSeconds: number | undefined): Promise<void>;
  of(accountId: string): Promise<LogoutRow[]>;
  deleteSettled(olderThanSeconds: number): Promise<number>;
  /** The cleanup job's sweep (src/artifacts/cleanup.ts): delivered and given-up entries a week after they settled. */
  deleteExpired(batchSize: number): Promise<number>;
}

/** A node serves a cached cutoff at most this long when an invalidation NOTIFY was lost. */
export const cutoffCacheTtlMs = 5_000;
const logoutChannel = 'gatehouse_backchannel_logout';

const epoch = (date: Date) => Math.floor(date.getTime() / 1000);
/** How long a delivered or given-up logout is kept for inspection before the cleanup job removes it. */
const settledRetentionSeconds = 7 * 86_400;
const fromEpoch = (seconds: number | undefined) => (typeof seconds === 'number' ? new Date(seconds * 1000) : null);

function sessionView(payload: SessionPayload, expiresAt: Date | null): SessionView {
  return {
    id: payload.uid ?? '',
    signedInAt: fromEpoch(payload.loginTs),
    acr: payload.acr ?? null,
    amr: payload.amr ?? [],
    clients: Object.keys(payload.authorizations ?? {}).sort(),
    expiresAt,
  };
}

/** The clients a session signed in to, with the sid each holds (OIDC Front/Back-Channel Logout `sid`). */
function authorizationsOf(accountId: string, payload: SessionPayload): LogoutTarget[] {
  return Object.entries(payload.authorizations ?? {}).map(([clientId, a]) => ({ clientId, accountId, sid: a.sid ?? null }));
}

export function createSessionService(db: Db, audit: Audit): SessionService {
  const store = createSessionStore(db);
  /** Per account (`a:<id>`: '' → its own cutoff, client → a grant's) and per client (`c:<id>`: '' → the client's). */
  const cache = createNamedCache<Record<string, number>>(db, 'token_cutoffs', { ttlMs: cutoffCacheTtlMs });

  /** What to send: one token per (client, sid); a client that requires a sid gets none without one. */
  async function logoutTargets(tx: Queryable, candidates: LogoutTarget[]): Promise<LogoutTarget[]> {
    const clients = await store.logoutClients(tx, [...new Set(candidates.map((c) => c.clientId))]);
    const seen = new Set<string>();
    return candidates.filter((t) => {
      const client = clients.get(t.clientId);
      const key = `${t.clientId} ${t.sid ?? ''}`;
      if (!client || (client.sessionRequired && !t.sid) || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  async function queued(targets: LogoutTarget[]): Promise<void> {
    if (targets.length) await db.notify(logoutChannel, String(targets.length));
  }

  const cutoffs = (key: string, load: () => Promise<Record<string, number>>) => {
    const cached = cache.peek(key);
    return cached ? Promise.resolve(cached) : cache.get(key, load).then((v) => v ?? {});
  };

  const logouts: LogoutQueue = {
    channel: logoutChannel,
    async enqueue(target, reason) {
      await store.enqueue(db, [target], reason);
      await queued([target]);
    },
    claimDue: (limit, leaseSeconds) => store.claimDue(limit, leaseSeconds),
    async delivered(entry) {
      await store.markDelivered(entry.id);
      recordAs(audit, system, { type: 'logout.backchannel_delivered', subject: entry.account_id, clientId: entry.client_id, detail: { reason: entry.reason, attempts: entry.attempts } });
    },
    async failed(entry, error, retryInSeconds) {
      await store.markFailed(entry.id, error, retryInSeconds);
      if (retryInSeconds === undefined) {
        recordAs(audit, system, {
          type: 'logout.backchannel_failed',
          outcome: 'failure',
          subject: entry.account_id,
          clientId: entry.client_id,
          detail: { reason: entry.reason, attempts: entry.attempts, error: error.slice(0, 200) },
        });
      }
    },
    of: (accountId) => store.logoutsOf(accountId),
    deleteSettled: (olderThanSeconds) => store.deleteSettled(olderThanSeconds),
    deleteExpired: () => store.deleteSettled(settledRetentionSeconds),
  };

  return {
    cache,
    logouts,
    countSignedIn: () => store.countSignedIn(),

    async listSessions(accountId) {
      return (await store.sessionsOf(accountId)).map((row) => sessionView(row.payload, row.expires_at));
    },

    async listGrants(accountId) {
      return (await store.grantsOf(accountId)).map((row) => ({
        id: row.grant_id,
        clientId: row.payload.clientId ?? '',
        scope: row.payload.openid?.scope ?? '',
        resources: row.payload.resources ?? {},
        createdAt: fromEpoch(row.payload.iat),
        expiresAt: row.expires_at,
      }));
    },

    async revokeSession(actor, accountId, sessionId) {
      const now = new Date();
      const result = await db.transaction(async (tx) => {
        const payload = await store.deleteSession(tx, accountId, sessionId);
        if (!payload) return undefined;
        const clients: string[] = [];
        for (const [clientId, authorization] of Object.entries(payload.authorizations ?? {})) {
          // What RP-initiated logout of every client does (lib/actions/end_session.js:157-167).
          if (!authorization.grantId || authorization.persistsLogout) continue;
          await store.deleteGrant(tx, accountId, authorization.grantId);
          await store.setCutoff(tx, accountId, clientId, now);
          clients.push(clientId);
        }
        const targets = await logoutTargets(tx, authorizationsOf(accountId, payload));
        await store.enqueue(tx, targets, 'session_revoked');
        return { clients, targets };
      });
      if (!result) return false;
      await cache.invalidate(`a:${accountId}`);
      await queued(result.targets);
      recordAs(audit, actor, { type: 'session.revoked', subject: accountId, detail: { session: sessionId, grantsRevokedFor: result.clients, logouts: result.targets.length } });
      return true;
    },

    async revokeGrant(actor, accountId, grantId) {
      const clientId = await db.transaction(async (tx) => {
        const owner = await store.deleteGrant(tx, accountId, grantId);
        if (owner !== undefined) await store.setCutoff(tx, accountId, owner, new Date());
        return owner;
      });
      if (clientId === undefined) return false;
      await cache.invalidate(`a:${accountId}`);
      recordAs(audit, actor, { type: 'grant.revoked', subject: accountId, clientId, detail: { grantId } });
      return true;
    },

    async signOutEverywhere(actor, accountId, reason) {
      const now = new Date();
      const result = await db.transaction(async (tx) => {
        const sessions = await store.deleteSessionsOf(tx, accountId);
        const { grants, clients: grantClients } = await store.deleteArtifactsOf(tx, accountId);
        await store.setCutoff(tx, accountId, '', now);
        const withSid = sessions.flatMap((s) => authorizationsOf(accountId, s));
        // A client the user allowed without a live session here may still hold a session of its own: tell it by `sub`.
        const withoutSid = grantClients.filter((c) => !withSid.some((t) => t.clientId === c)).map((clientId) => ({ clientId, accountId, sid: null }));
        const targets = await logoutTargets(tx, [...withSid, ...withoutSid]);
        await store.enqueue(tx, targets, reason);
        return { sessions: sessions.length, grants, targets };
      });
      await cache.invalidate(`a:${accountId}`);
      await queued(result.targets);
      const counts = { sessions: result.sessions, grants: result.grants, logouts: result.targets.length };
      recordAs(audit, actor, { type: 'sessions.revoked', subject: accountId, detail: { reason, ...counts } });
      return counts;
    },

    async revokeClientTokens(actor, clientId) {
      const removed = await db.transaction(async (tx) => {
        const count = await store.deleteArtifactsOfClient(tx, clientId);
        await store.setCutoff(tx, '', clientId, new Date());
        return count;
      });
      await cache.invalidate(`c:${clientId}`);
      recordAs(audit, actor, { type: 'client.tokens_revoked', subject: clientId, clientId, detail: { artifacts: removed } });
    },

    async isCutOff({ accountId, clientId, issuedAt, stored = false }) {
      // iat has a resolution of one second. An unstored (JWT) token issued in the second of a cutoff counts as
      // before it (fail closed); a stored one issued then survived the cutoff's deletion, so it came after it.
      const past = (cutoff: number | undefined) => cutoff !== undefined && (stored ? issuedAt < cutoff : issuedAt <= cutoff);
      const ofClient = await cutoffs(`c:${clientId}`, async (): Promise<Record<string, number>> => {
        const cutoff = await store.cutoffOf('', clientId);
        return cutoff ? { '': epoch(cutoff) } : {};
      });
      if (past(ofClient[''])) return true;
      if (accountId === undefined) return false;
      const ofAccount = await cutoffs(`a:${accountId}`, async () => Object.fromEntries((await store.cutoffsOfAccount(accountId)).map((r) => [r.client_id, epoch(r.not_before)])));
      return past(ofAccount['']) || past(ofAccount[clientId]);
    },
  };
}
