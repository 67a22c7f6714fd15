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
import { startQueueWorker, type QueueWorker } from '../db/queue-worker.js';
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

export function startLogoutWorker(deps: LogoutWorkerDeps): Promise<QueueWorker> {
  return startQueueWorker<LogoutRow>({
    db: deps.db,
    queue: deps.queue,
    name: 'back-channel logout',
    describe: (entry) => ({ clientId: entry.client_id, reason: entry.reason }),
    async deliver(entry) {
      const provider = deps.provider();
      const client = (await provider.Client.find(entry.client_id)) as ClientLike | undefined;
      if (!client?.backchannelLogoutUri) throw new Error('the client is gone, disabled or has no backchannel_logout_uri');
      const send = libraryLogout.get(provider) ?? (provider.Client.prototype as unknown as { backchannelLogout: BackchannelLogout }).backchannelLogout;
      await send.call(client, entry.account_id, entry.sid ?? undefined);
    },
    log: deps.log,
    settings: deps.settings,
    batch: 20,
    // Longer than one delivery's timeout.
    leaseSeconds: 60,
    sequential: false,
    onOutcome: deps.onOutcome,
  });
}
