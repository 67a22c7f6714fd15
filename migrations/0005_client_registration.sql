-- Dynamic client registration (RFC 7591 / RFC 7592): named registration
-- policies, initial access tokens that operators mint, and the link from a
-- registered client to the token and policy it was registered under.
--
-- Invariant 1 (nothing usable at rest): an initial access token is stored only
-- as the SHA-256 of its value (256 random bits, so a plain hash is enough); the
-- public `id` is what operators list and revoke by. Registration access tokens
-- live in oidc_models, hashed like every other library artifact.

CREATE TABLE registration_policies (
  name        text        PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  rules       jsonb       NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Rows are revoked, never deleted: a client keeps pointing at the token that
-- registered it, and the operator view can say which one and when.
CREATE TABLE initial_access_tokens (
  id           text        PRIMARY KEY,
  token_hash   bytea       NOT NULL UNIQUE,
  policy       text        REFERENCES registration_policies (name) ON DELETE RESTRICT,
  description  text,
  max_uses     integer     NOT NULL CHECK (max_uses > 0),
  uses         integer     NOT NULL DEFAULT 0,
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (uses <= max_uses)
);

ALTER TABLE clients
  ADD COLUMN registered_by_iat   text REFERENCES initial_access_tokens (id) ON DELETE RESTRICT,
  -- NULL on a registered client: the built-in baseline policy (open registration, or a token minted without --policy).
  ADD COLUMN registration_policy text REFERENCES registration_policies (name) ON DELETE RESTRICT;
CREATE INDEX clients_registered_by_iat ON clients (registered_by_iat) WHERE registered_by_iat IS NOT NULL;
