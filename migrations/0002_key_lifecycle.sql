-- Signing-key state becomes a function of time: a key is `next` before its
-- activate_at, `active` from then until a newer key of its algorithm activates
-- (or it is retired by hand), `retired` (published, verifies only) until every
-- token it signed has expired, then removed. Every node computes the same state
-- at the same instant from these columns, so a lost notification cannot leave
-- two nodes signing with different keys. A revoked key leaves the JWKS at once.
DROP INDEX IF EXISTS signing_keys_state;
ALTER TABLE signing_keys DROP COLUMN state, DROP COLUMN retire_at, DROP COLUMN delete_after;
ALTER TABLE signing_keys ADD COLUMN retired_at timestamptz, ADD COLUMN revoked_at timestamptz;
CREATE INDEX signing_keys_alg_activate ON signing_keys (alg, activate_at);
