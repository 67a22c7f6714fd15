-- API keys (issue 18 item 3) and the per-client token-exchange policy (item 2).

-- A long-lived key owned by a service client or a user. Only the SHA-256 of the
-- value is kept (DESIGN invariant 1): the value is shown once, when it is made.
-- The key's id and name identify it to operators; neither authenticates.
--   scopes:          what a token exchanged from this key may carry, at most
--   allowed_cidrs:   client address ranges the key is accepted from; [] = anywhere
--   rate_count/rate_window_seconds: the key's own budget of exchanges
--   rotated_from:    the key this one replaced (rotation with overlap)
--   last_used_*:     the last exchange, for operators hunting unused or leaked keys
CREATE TABLE api_keys (
  id                  text        PRIMARY KEY,
  key_hash            bytea       NOT NULL UNIQUE,
  owner_kind          text        NOT NULL CHECK (owner_kind IN ('client', 'user')),
  owner_id            text        NOT NULL,
  name                text        NOT NULL,
  scopes              jsonb       NOT NULL DEFAULT '[]',
  allowed_cidrs       jsonb       NOT NULL DEFAULT '[]',
  rate_count          integer     NOT NULL CHECK (rate_count > 0),
  rate_window_seconds integer     NOT NULL CHECK (rate_window_seconds > 0),
  expires_at          timestamptz,
  revoked_at          timestamptz,
  rotated_from        text        REFERENCES api_keys (id) ON DELETE SET NULL,
  last_used_at        timestamptz,
  last_used_ip        text,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_owner ON api_keys (owner_kind, owner_id);

-- Which audiences a client may exchange tokens into (RFC 8693 §2.1 `audience` /
-- `resource`), whether it may ask for a token that is the subject with no `act`
-- (impersonation), and the longest life it may ask for. No row: the client may
-- not use token exchange at all. Operator-set, like clients.introspects.
CREATE TABLE token_exchange_policies (
  client_id            text        PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
  audiences            jsonb       NOT NULL DEFAULT '[]',
  may_impersonate      boolean     NOT NULL DEFAULT false,
  max_lifetime_seconds integer     NOT NULL CHECK (max_lifetime_seconds > 0),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
