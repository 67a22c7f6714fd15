-- Admin API v1, third part (issue 14): Idempotency-Key on creates
-- (draft-ietf-httpapi-idempotency-key-header). One row per (caller, key):
-- only the SHA-256 of the caller and the key is kept, with the SHA-256 of the
-- request it first came with (method, path, body) and, once that request has
-- succeeded, its response. A value shown once (a client secret, an initial
-- access token) is never stored: `response` holds the answer without it and
-- `withheld` says so. A pending row is a lease (a short `expires_at`), so a
-- node that died mid-request does not block the key for the whole TTL; the
-- cleanup sweeps expired rows.
CREATE TABLE admin_idempotency_keys (
  key_hash bytea PRIMARY KEY,
  fingerprint bytea NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'done')),
  status integer,
  response jsonb,
  withheld boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX admin_idempotency_keys_expires_at ON admin_idempotency_keys (expires_at);
