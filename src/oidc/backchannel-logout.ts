/**
 * OpenID Connect Back-Channel Logout 1.0, delivered off the request path.
 *
 * The library signs and POSTs logout tokens itself (oidc-provider 9.13.3
 * lib/models/client.js:442-469, `Client#backchannelLogout`), inline and
 * once: RP-initiated logout awaits every client's answer before the user's
 * browser gets its own (lib/actions/end_session.js:125-147), and a failure is
 * only an event. Gatehouse queues instead: `backchannelLogout` on the
 * provider's Client class is replaced by an insert into the queue
 * (src/sessions/), and every node runs this worker, which claims due entries
 * (SKIP LOCKED, under a lease), has the library's own implementation sign and
 * send each one (its logout token: iss, aud, iat, exp, jti, sub, `events`,
 * `sid` when the client requires it, never a nonce; §2.4), and retries with
 * a doubling delay. The revocation paths (sign out everywhere, a disabled
 * account, …) fill the same queue from the services, CLI included.
 */
import type { Logger } from 'pino';
import type Provider from 'oidc-provider';

import type { Db } from '../db/index.js';
import type { LogoutQueue, LogoutRow } from '../sessions/sessions.js';

type BackchannelLogout = (this: unknown, sub: string, sid: string | undefined) => Promise<void>;

interface ClientLike {
  clientId: string;
  backchannelLogoutUri?: string;
}

/** The library's implementation, kept per provider before it is replaced. */
const libraryLogout = new WeakMap<Provider, BackchannelLogout>();

/** Routes the library's inline back-channel logout (RP-initiated logout) into the queue. */
export function queueLibraryLogouts(provider: Provider, queue: LogoutQueue): void {
  const prototype = provider.Client.prototype as unknown as { backchannelLogout: BackchannelLogout };
  libraryLogout.set(provider, prototype.backchannelLogout);
  prototype.backchannelLogout = async function queuedLogout(this: unknown, sub: string, sid: string | undefined) {
    const client = this as ClientLike;
    await queue.enqueue({ clientId: client.clientId, accountId: sub, sid: sid ?? null }, 'rp_initiated_logout');
  };
}

export interface LogoutWorkerDeps {
  db: Db;
  queue: LogoutQueue;
  /** The provider serving now (key rotation swaps it): its keys sign the logout token. */
  provider: () => Provider;
  log: Logger;
  settings: { attempts: number; retryDelaySeconds: number; pollIntervalSeconds: number };
  onOutcome?: (outcome: 'delivered' | 'retry' | 'failed') => void;
}

/** How long a claimed entry is this node's before another may try it (longer than one delivery's timeout). */
const leaseSeconds = 60;
const batch = 20;

export async function startLogoutWorker(deps: LogoutWorkerDeps): Promise<{ stop(): Promise<void>; runOnce(): Promise<number> }> {
  const { queue, log, settings } = deps;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;

  async function deliver(entry: LogoutRow): Promise<void> {
    const provider = deps.provider();
    try {
      const client = (await provider.Client.find(entry.client_id)) as ClientLike | undefined;
      if (!client?.backchannelLogoutUri) throw new Error('the client is gone, disabled or has no backchannel_logout_uri');
      const send = libraryLogout.get(provider) ?? (provider.Client.prototype as unknown as { backchannelLogout: BackchannelLogout }).backchannelLogout;
      await send.call(client, entry.account_id, entry.sid ?? undefined);
      await queue.delivered(entry);
      deps.onOutcome?.('delivered');
      log.info({ clientId: entry.client_id, attempts: entry.attempts, reason: entry.reason }, 'back-channel logout delivered');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const retryIn = entry.attempts < settings.attempts ? settings.retryDelaySeconds * 2 ** (entry.attempts - 1) : undefined;
      await queue.failed(entry, message, retryIn);
      deps.onOutcome?.(retryIn === undefined ? 'failed' : 'retry');
      log.warn({ clientId: entry.client_id, attempts: entry.attempts, retryInSeconds: retryIn, err: message }, retryIn === undefined ? 'back-channel logout failed: given up' : 'back-channel logout failed: will retry');
    }
  }

  async function drain(): Promise<number> {
    let delivered = 0;
    for (;;) {
      const due = await queue.claimDue(batch, leaseSeconds);
      await Promise.all(due.map(deliver));
      delivered += due.length;
      if (due.length < batch || stopped) return delivered;
    }
  }

  /** One pass; a kick while a pass runs schedules one more, so no notification is lost. */
  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = drain()
      .catch((error: unknown) => {
        log.warn({ err: error }, 'back-channel logout queue unavailable');
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          void runOnce();
        }
      });
    return running;
  }

  const unlisten = await deps.db.listen(queue.channel, () => void runOnce(), () => void runOnce());
  const timer = setInterval(() => void runOnce(), settings.pollIntervalSeconds * 1000);
  timer.unref();
  void runOnce();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await unlisten().catch(() => undefined);
      await running;
    },
  };
}
