/**
 * Sign-ins in flight: `federation_attempts` (sent upstream, keyed by the
 * SHA-256 of their state) and `federation_pending_links` (an upstream identity
 * waiting for its account's password sign-in, keyed by the interaction's
 * hash). Both are taken with DELETE … RETURNING, so of two requests carrying
 * the same state only one gets the row: a replayed state finds nothing.
 */
import type { Db } from '../db/index.js';

export interface AttemptRow {
  interaction_hash: Buffer;
  upstream_id: string;
  checks_ciphertext: string;
}

export interface PendingLinkRow {
  issuer: string;
  subject: string;
  upstream_id: string;
}

export function createAttemptStore(db: Db) {
  return {
    async insert(stateHash: Buffer, row: AttemptRow & { expiresAt: Date }): Promise<void> {
      await db.query(
        'INSERT INTO federation_attempts (state_hash, interaction_hash, upstream_id, checks_ciphertext, expires_at) VALUES ($1, $2, $3, $4, $5)',
        [stateHash, row.interaction_hash, row.upstream_id, row.checks_ciphertext, row.expiresAt],
      );
      // Housekeeping rides on new attempts rather than a timer of its own.
      await db.query('DELETE FROM federation_attempts WHERE expires_at <= now()');
      await db.query('DELETE FROM federation_pending_links WHERE expires_at <= now()');
    },
    async peek(stateHash: Buffer): Promise<AttemptRow | undefined> {
      const { rows } = await db.query<AttemptRow>('SELECT interaction_hash, upstream_id, checks_ciphertext FROM federation_attempts WHERE state_hash = $1 AND expires_at > now()', [stateHash]);
      return rows[0];
    },
    /** The attempt for this state and interaction, removed: exactly one callback uses it. */
    async take(stateHash: Buffer, interactionHash: Buffer): Promise<AttemptRow | undefined> {
      const { rows } = await db.query<AttemptRow>(
        'DELETE FROM federation_attempts WHERE state_hash = $1 AND interaction_hash = $2 AND expires_at > now() RETURNING interaction_hash, upstream_id, checks_ciphertext',
        [stateHash, interactionHash],
      );
      return rows[0];
    },
    async putPendingLink(interactionHash: Buffer, row: PendingLinkRow & { expiresAt: Date }): Promise<void> {
      await db.query(
        `INSERT INTO federation_pending_links (interaction_hash, issuer, subject, upstream_id, expires_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (interaction_hash) DO UPDATE SET issuer = EXCLUDED.issuer, subject = EXCLUDED.subject, upstream_id = EXCLUDED.upstream_id, expires_at = EXCLUDED.expires_at`,
        [interactionHash, row.issuer, row.subject, row.upstream_id, row.expiresAt],
      );
    },
    async findPendingLink(interactionHash: Buffer): Promise<PendingLinkRow | undefined> {
      const { rows } = await db.query<PendingLinkRow>('SELECT issuer, subject, upstream_id FROM federation_pending_links WHERE interaction_hash = $1 AND expires_at > now()', [interactionHash]);
      return rows[0];
    },
    async takePendingLink(interactionHash: Buffer): Promise<PendingLinkRow | undefined> {
      const { rows } = await db.query<PendingLinkRow>('DELETE FROM federation_pending_links WHERE interaction_hash = $1 AND expires_at > now() RETURNING issuer, subject, upstream_id', [interactionHash]);
      return rows[0];
    },
  };
}
