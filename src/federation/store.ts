/** The `federation_upstreams` and `federation_links` tables (migrations/0013_federation.sql). */
import type { SqlValue } from '../db/db.js';
import type { Db } from '../db/index.js';
import type { ClaimMapping, LinkingPolicy, OAuthEndpoints, SecondFactorPolicy, UpstreamClientAuth } from './schemas.js';

export interface UpstreamRow {
  id: string;
  name: string;
  display_name: string;
  protocol: 'oidc' | 'oauth2';
  issuer: string;
  endpoints: OAuthEndpoints | null;
  client_id: string;
  client_secret_ciphertext: string | null;
  client_auth: UpstreamClientAuth;
  scopes: string[];
  claim_mapping: ClaimMapping;
  linking: LinkingPolicy;
  second_factor: SecondFactorPolicy;
  domains: string[];
  end_upstream_session: boolean;
  enabled: boolean;
  signing_key_ciphertext: string | null;
  signing_public_jwk: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
}

export type UpstreamFields = Omit<UpstreamRow, 'created_at' | 'updated_at' | 'signing_key_ciphertext' | 'signing_public_jwk'>;

export interface LinkRow {
  issuer: string;
  subject: string;
  account_id: string;
  upstream_id: string | null;
  groups: string[];
  created_at: Date;
  last_used_at: Date | null;
}

/** The row's fields in the order both statements below take them ($2 … $16 after the id). */
function values(row: UpstreamFields): SqlValue[] {
  const json = (value: unknown) => (value === null ? null : JSON.stringify(value));
  return [row.id, row.name, row.display_name, row.client_id, row.client_secret_ciphertext, row.client_auth, json(row.scopes), json(row.claim_mapping),
    row.linking, row.second_factor, json(row.domains), row.end_upstream_session, row.enabled, row.protocol, row.issuer, json(row.endpoints)];
}

export function createUpstreamStore(db: Db) {
  return {
    async insert(row: UpstreamFields): Promise<UpstreamRow> {
      const { rows } = await db.query<UpstreamRow>(
        `INSERT INTO federation_upstreams (id, name, display_name, client_id, client_secret_ciphertext, client_auth, scopes, claim_mapping,
           linking, second_factor, domains, end_upstream_session, enabled, protocol, issuer, endpoints)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11::jsonb, $12, $13, $14, $15, $16::jsonb) RETURNING *`,
        values(row),
      );
      return rows[0]!;
    },
    /** Replaces every field but the id, protocol, issuer and endpoints (links are keyed by the issuer). */
    async update(row: UpstreamFields): Promise<UpstreamRow | undefined> {
      const { rows } = await db.query<UpstreamRow>(
        `UPDATE federation_upstreams SET name = $2, display_name = $3, client_id = $4, client_secret_ciphertext = $5, client_auth = $6, scopes = $7::jsonb,
           claim_mapping = $8::jsonb, linking = $9, second_factor = $10, domains = $11::jsonb, end_upstream_session = $12, enabled = $13, updated_at = now()
         WHERE id = $1 RETURNING *`,
        values(row).slice(0, 13),
      );
      return rows[0];
    },
    async remove(id: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM federation_upstreams WHERE id = $1', [id]);
      return rowCount > 0;
    },
    async findById(id: string): Promise<UpstreamRow | undefined> {
      const { rows } = await db.query<UpstreamRow>('SELECT * FROM federation_upstreams WHERE id = $1', [id]);
      return rows[0];
    },
    async findByName(name: string): Promise<UpstreamRow | undefined> {
      const { rows } = await db.query<UpstreamRow>('SELECT * FROM federation_upstreams WHERE lower(name) = lower($1)', [name]);
      return rows[0];
    },
    async list(): Promise<UpstreamRow[]> {
      const { rows } = await db.query<UpstreamRow>('SELECT * FROM federation_upstreams ORDER BY lower(name)');
      return rows;
    },
    /** Enabled upstreams claiming `domain` for home-realm discovery; the oldest first when two claim it. */
    async findByDomain(domain: string): Promise<UpstreamRow | undefined> {
      const { rows } = await db.query<UpstreamRow>(
        'SELECT * FROM federation_upstreams WHERE enabled AND domains @> $1::jsonb ORDER BY created_at LIMIT 1',
        [JSON.stringify([domain])],
      );
      return rows[0];
    },
    async allSealed(): Promise<Array<{ id: string; client_secret_ciphertext: string }>> {
      const { rows } = await db.query<{ id: string; client_secret_ciphertext: string }>('SELECT id, client_secret_ciphertext FROM federation_upstreams WHERE client_secret_ciphertext IS NOT NULL');
      return rows;
    },
    async setSealed(id: string, ciphertext: string): Promise<void> {
      await db.query('UPDATE federation_upstreams SET client_secret_ciphertext = $2 WHERE id = $1', [id, ciphertext]);
    },
    /** The private_key_jwt key pair: the private JWK sealed, the public one as served. */
    async setSigningKey(id: string, ciphertext: string, publicJwk: Record<string, unknown>): Promise<UpstreamRow | undefined> {
      const { rows } = await db.query<UpstreamRow>('UPDATE federation_upstreams SET signing_key_ciphertext = $2, signing_public_jwk = $3::jsonb, updated_at = now() WHERE id = $1 RETURNING *', [id, ciphertext, JSON.stringify(publicJwk)]);
      return rows[0];
    },
    async allSealedKeys(): Promise<Array<{ id: string; signing_key_ciphertext: string }>> {
      const { rows } = await db.query<{ id: string; signing_key_ciphertext: string }>('SELECT id, signing_key_ciphertext FROM federation_upstreams WHERE signing_key_ciphertext IS NOT NULL');
      return rows;
    },
    async setSealedKey(id: string, ciphertext: string): Promise<void> {
      await db.query('UPDATE federation_upstreams SET signing_key_ciphertext = $2 WHERE id = $1', [id, ciphertext]);
    },
    /** Public keys of the upstreams that authenticate with private_key_jwt. */
    async publicJwks(): Promise<Array<Record<string, unknown>>> {
      const { rows } = await db.query<{ signing_public_jwk: Record<string, unknown> }>("SELECT signing_public_jwk FROM federation_upstreams WHERE client_auth = 'private_key_jwt' AND signing_public_jwk IS NOT NULL ORDER BY created_at");
      return rows.map((r) => r.signing_public_jwk);
    },
  };
}

export function createLinkStore(db: Db) {
  return {
    async find(issuer: string, subject: string): Promise<LinkRow | undefined> {
      const { rows } = await db.query<LinkRow>('SELECT * FROM federation_links WHERE issuer = $1 AND subject = $2', [issuer, subject]);
      return rows[0];
    },
    /** False when the identity is already linked (to this or another account): a link is never moved silently. */
    async insert(link: { issuer: string; subject: string; accountId: string; upstreamId: string; groups: string[] }): Promise<boolean> {
      const { rowCount } = await db.query(
        `INSERT INTO federation_links (issuer, subject, account_id, upstream_id, groups, last_used_at) VALUES ($1, $2, $3, $4, $5::jsonb, now())
         ON CONFLICT (issuer, subject) DO NOTHING`,
        [link.issuer, link.subject, link.accountId, link.upstreamId, JSON.stringify(link.groups)],
      );
      return rowCount > 0;
    },
    async touch(issuer: string, subject: string, groups: string[]): Promise<void> {
      await db.query('UPDATE federation_links SET last_used_at = now(), groups = $3::jsonb WHERE issuer = $1 AND subject = $2', [issuer, subject, JSON.stringify(groups)]);
    },
    async forAccount(accountId: string): Promise<LinkRow[]> {
      const { rows } = await db.query<LinkRow>('SELECT * FROM federation_links WHERE account_id = $1 ORDER BY created_at', [accountId]);
      return rows;
    },
    async remove(accountId: string, issuer: string, subject: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM federation_links WHERE account_id = $1 AND issuer = $2 AND subject = $3', [accountId, issuer, subject]);
      return rowCount > 0;
    },
  };
}
