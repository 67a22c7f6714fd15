-- Admin API v1 (issue 14).
--
-- Client secret rotation with overlap (DESIGN invariant 3): rotating moves the
-- current sealed secret here with the time it stops working, and a new secret
-- takes its place in clients.secret_ciphertext. Sealed like the current one
-- (invariant 1); the row is only metadata to anyone without the master secret.
CREATE TABLE client_previous_secrets (
  id            text        PRIMARY KEY,
  client_id     text        NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
  ciphertext    text        NOT NULL,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  last_used_at  timestamptz,
  retired_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_previous_secrets_client ON client_previous_secrets (client_id, expires_at);

-- When the current secret was issued (rows from before this migration: the client's creation).
ALTER TABLE clients ADD COLUMN secret_created_at timestamptz;
UPDATE clients SET secret_created_at = created_at WHERE secret_ciphertext IS NOT NULL;

-- Until RBAC lands (issue 14 allows it): the minimal admin marker that lets a
-- user's token reach /admin/v1, set by `gatehouse users set-admin`.
ALTER TABLE accounts ADD COLUMN admin boolean NOT NULL DEFAULT false;
