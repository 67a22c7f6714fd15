/**
 * A per-host budget for Client ID Metadata Document fetches, so one allowed
 * host (or a wildcard's many names) can neither fill the library's document
 * cache (100 entries per node, lib/helpers/client_id_metadata_document.js)
 * with client ids of its own making nor use Gatehouse as a request amplifier:
 *   - at most `fetchesPerMinute` fetches per host in any 60 s;
 *   - at most `clientsPerHost` distinct client ids per host fetched within the
 *     time a document may stay cached (`clientTtlMs`, the cache maximum); a
 *     client id already counted is always let through.
 * Per node, like the cache it guards (DESIGN invariant 2: a named, bounded,
 * in-process cache, here of counters that expire within an hour).
 */
const windowMs = 60_000;
/** Hosts remembered at once; the oldest is forgotten first. */
const maxHosts = 1000;

export interface HostBudget {
  /** Why a fetch of `clientId` on `host` is refused now, or undefined (and the fetch is counted). */
  spend(host: string, clientId: string): string | undefined;
}

interface HostState {
  fetches: number[];
  clients: Map<string, number>;
}

export function createHostBudget(options: { fetchesPerMinute: number; clientsPerHost: number; clientTtlMs: number; now?: () => number }): HostBudget {
  const now = options.now ?? Date.now;
  const hosts = new Map<string, HostState>();
  return {
    spend(host, clientId) {
      const at = now();
      let state = hosts.get(host);
      if (state) hosts.delete(host);
      else state = { fetches: [], clients: new Map() };
      hosts.set(host, state);
      if (hosts.size > maxHosts) hosts.delete(hosts.keys().next().value!);
      state.fetches = state.fetches.filter((t) => at - t < windowMs);
      for (const [id, seen] of state.clients) if (at - seen >= options.clientTtlMs) state.clients.delete(id);
      if (state.fetches.length >= options.fetchesPerMinute) return `the host's fetch budget (${options.fetchesPerMinute} a minute) is spent`;
      if (!state.clients.has(clientId) && state.clients.size >= options.clientsPerHost) return `the host already has ${options.clientsPerHost} client ids cached`;
      state.fetches.push(at);
      state.clients.set(clientId, at);
      return undefined;
    },
  };
}
