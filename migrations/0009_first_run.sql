-- First-run setup links (issue 16 §4): one-time links that create the first
-- administrator from a browser. Only the SHA-256 of the link's token is
-- stored (invariant 1); the TOTP seed the page shows is sealed like every
-- other seed until the administrator confirms a code. A link works once,
-- for an hour, and only while no administrator exists.
CREATE TABLE setup_links (
  id               text        PRIMARY KEY,
  token_hash       bytea       NOT NULL UNIQUE,
  seed_ciphertext  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz
);
