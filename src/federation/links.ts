/**
 * The upstream identities linked to an account, as operators (CLI, admin API)
 * and the user (the account page) see and remove them. A link is the pair
 * (issuer, subject); removing one is audited with its actor. A user may not
 * remove the last way they have to sign in: an account made just in time has
 * no password, and without its link nobody could sign in to it again.
 */
import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { Db } from '../db/index.js';
import { createLinkStore, type LinkRow } from './store.js';
import type { UpstreamService } from './upstreams.js';

export interface FederationLink {
  issuer: string;
  subject: string;
  /** The upstream's name now (null when the upstream was removed; the link stays until its account goes). */
  upstream: string | null;
  upstreamDisplayName: string | null;
  groups: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
}

export class LinkError extends Error {
  override name = 'LinkError';
}

export interface LinkService {
  forAccount(accountId: string): Promise<FederationLink[]>;
  /** `no such link` when this account has no such link (another account's link is not found either). */
  remove(actor: Actor, accountId: string, link: { issuer: string; subject: string }): Promise<void>;
}

export function createLinkService(db: Db, audit: Audit, upstreams: Pick<UpstreamService, 'list'>): LinkService {
  const links = createLinkStore(db);

  async function describe(rows: LinkRow[]): Promise<FederationLink[]> {
    const byId = new Map((await upstreams.list()).map((u) => [u.id, u]));
    return rows.map((row) => {
      const upstream = row.upstream_id ? byId.get(row.upstream_id) : undefined;
      return {
        issuer: row.issuer,
        subject: row.subject,
        upstream: upstream?.name ?? null,
        upstreamDisplayName: upstream?.displayName ?? null,
        groups: row.groups,
        createdAt: row.created_at,
        lastUsedAt: row.last_used_at,
      };
    });
  }

  /** The account can still sign in without this link: a password, a passkey, or another link. */
  async function otherWayIn(accountId: string, rows: LinkRow[]): Promise<boolean> {
    if (rows.length > 1) return true;
    const { rows: found } = await db.query<{ password: boolean; passkeys: number }>(
      `SELECT a.password_hash <> '!no-password' AS password,
              (SELECT count(*)::int FROM passkeys p WHERE p.account_id = a.id) AS passkeys
         FROM accounts a WHERE a.id = $1`,
      [accountId],
    );
    return found[0] !== undefined && (found[0].password || found[0].passkeys > 0);
  }

  return {
    async forAccount(accountId) {
      return describe(await links.forAccount(accountId));
    },

    async remove(actor, accountId, link) {
      const rows = await links.forAccount(accountId);
      const row = rows.find((r) => r.issuer === link.issuer && r.subject === link.subject);
      if (!row) throw new LinkError('no such link');
      if (actor.kind === 'user' && !(await otherWayIn(accountId, rows))) {
        throw new LinkError('this link is the only way to sign in to the account: set a password or add a passkey first');
      }
      if (!(await links.remove(accountId, link.issuer, link.subject))) throw new LinkError('no such link');
      recordAs(audit, actor, { type: 'federation.unlinked', subject: accountId, detail: { issuer: row.issuer, upstream: (await describe([row]))[0]!.upstream } });
    },
  };
}
