import type { Db, Queryable } from '../db/index.js';

export interface ClientRow {
  client_id: string;
  metadata: Record<string, unknown>;
  secret_ciphertext: string | null;
  disabled: boolean;
  source: 'cli' | 'registration';
  /** Registered clients: the initial access token used (null for open registration). */
  registered_by_iat: string | null;
  /** Registered clients: the policy they answer to (null: the baseline). */
  registration_policy: string | null;
  /** Operator-set: audiences whose tokens this client may introspect, or ['*']. */
  introspects: string[];
  /** Operator-set: the resource server a token request without `resource` is for. */
  default_resource: string | null;
  created_at: Date;
  updated_at: Date;
  /** Bumped by a trigger on every UPDATE (migration 0014); bigint, so pg may hand it over as a string. */
  version: number | string;
}

export type NewClientRow = Pick<ClientRow, 'client_id' | 'metadata' | 'secret_ciphertext' | 'source'> &
  Partial<Pick<ClientRow, 'registered_by_iat' | 'registration_policy'>>;

export function createClientStore(db: Db) {
  return {
    async insert(row: NewClientRow, executor: Queryable = db): Promise<ClientRow> {
      const { rows } = await executor.query<ClientRow>(
        `INSERT INTO clients (client_id, metadata, secret_ciphertext, source, registered_by_iat, registration_policy)
         VALUES ($1, $2::jsonb, $3, $4, $5, $6) RETURNING *`,
        [row.client_id, JSON.stringify(row.metadata), row.secret_ciphertext, row.source, row.registered_by_iat ?? null, row.registration_policy ?? null],
      );
      return rows[0]!;
    },
    /**
     * A built-in client (the console's): inserted with its fixed id, or its
     * metadata brought up to date (the issuer, hence the redirect URI, may
     * change). Idempotent; two nodes starting at once insert it once.
     */
    async upsertBuiltIn(clientId: string, metadata: Record<string, unknown>): Promise<'created' | 'updated' | 'unchanged'> {
      const inserted = await db.query(
        `INSERT INTO clients (client_id, metadata, secret_ciphertext, source) VALUES ($1, $2::jsonb, NULL, 'cli') ON CONFLICT (client_id) DO NOTHING`,
        [clientId, JSON.stringify(metadata)],
      );
      if (inserted.rowCount === 1) return 'created';
      const updated = await db.query('UPDATE clients SET metadata = $2::jsonb WHERE client_id = $1 AND metadata IS DISTINCT FROM $2::jsonb', [clientId, JSON.stringify(metadata)]);
      return updated.rowCount === 1 ? 'updated' : 'unchanged';
    },
    async findById(clientId: string, executor: Queryable = db): Promise<ClientRow | undefined> {
      const { rows } = await executor.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1', [clientId]);
      return rows[0];
    },
    /** Locks the row until the transaction ends: two updates of one client apply one after the other. */
    async findForUpdate(tx: Queryable, clientId: string): Promise<ClientRow | undefined> {
      const { rows } = await tx.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1 FOR UPDATE', [clientId]);
      return rows[0];
    },
    async list(): Promise<ClientRow[]> {
      const { rows } = await db.query<ClientRow>('SELECT * FROM clients ORDER BY created_at, client_id');
      return rows;
    },
    async replaceMetadata(tx: Queryable, clientId: string, metadata: Record<string, unknown>, secretCiphertext: string | null): Promise<void> {
      await tx.query('UPDATE clients SET metadata = $2::jsonb, secret_ciphertext = $3, updated_at = now() WHERE client_id = $1', [
        clientId,
        JSON.stringify(metadata),
        secretCiphertext,
      ]);
    },
    /**
     * Compare-and-set: writes only if the row is still at `expectedVersion`.
     * Two racing writers with the same version both reach this UPDATE; the
     * second waits for the first's row lock, then re-checks the WHERE against
     * the committed row (version bumped by the trigger) and matches nothing.
     */
    async updateMetadataIfVersion(clientId: string, metadata: Record<string, unknown>, expectedVersion: number): Promise<ClientRow | undefined> {
      const { rows } = await db.query<ClientRow>('UPDATE clients SET metadata = $2::jsonb, updated_at = now() WHERE client_id = $1 AND version = $3 RETURNING *', [
        clientId,
        JSON.stringify(metadata),
        expectedVersion,
      ]);
      return rows[0];
    },
    async listSealed(): Promise<Array<Pick<ClientRow, 'client_id' | 'secret_ciphertext'>>> {
      const { rows } = await db.query<Pick<ClientRow, 'client_id' | 'secret_ciphertext'>>('SELECT client_id, secret_ciphertext FROM clients WHERE secret_ciphertext IS NOT NULL');
      return rows;
    },
    /** Swaps a ciphertext only if it is still the one read: a secret rotated meanwhile is left alone. */
    async replaceCiphertext(clientId: string, previous: string, next: string): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE clients SET secret_ciphertext = $3 WHERE client_id = $1 AND secret_ciphertext = $2', [clientId, previous, next]);
      return rowCount > 0;
    },
    async countRegisteredBy(tx: Queryable, iatId: string): Promise<number> {
      const { rows } = await tx.query<{ n: number }>('SELECT count(*)::integer AS n FROM clients WHERE registered_by_iat = $1', [iatId]);
      return rows[0]?.n ?? 0;
    },
    async remove(clientId: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
      return rowCount > 0;
    },
    /** Operator-set access beyond the protocol metadata; undefined leaves a field as it is. */
    async setAccess(clientId: string, access: { introspects?: string[] | undefined; defaultResource?: string | null | undefined }): Promise<ClientRow | undefined> {
      const { rows } = await db.query<ClientRow>(
        `UPDATE clients SET
           introspects = COALESCE($2::jsonb, introspects),
           default_resource = CASE WHEN $3::boolean THEN $4 ELSE default_resource END,
           updated_at = now()
         WHERE client_id = $1 RETURNING *`,
        [clientId, access.introspects === undefined ? null : JSON.stringify(access.introspects), access.defaultResource !== undefined, access.defaultResource ?? null],
      );
      return rows[0];
    },
    /**
     * Sets or clears `dpop_bound_access_tokens` inside the stored metadata in one
     * statement, so a concurrent change to other fields is not lost.
     */
    async setDpopBinding(clientId: string, required: boolean): Promise<ClientRow | undefined> {
      const { rows } = await db.query<ClientRow>(
        `UPDATE clients SET metadata = CASE WHEN $2::boolean THEN metadata || '{"dpop_bound_access_tokens": true}'::jsonb ELSE metadata - 'dpop_bound_access_tokens' END,
           updated_at = now()
         WHERE client_id = $1 RETURNING *`,
        [clientId, required],
      );
      return rows[0];
    },
    async setDisabled(clientId: string, disabled: boolean): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE clients SET disabled = $2, updated_at = now() WHERE client_id = $1', [clientId, disabled]);
      return rowCount > 0;
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
