-- Upstream sign-in, managed (issue 20, second part): private_key_jwt to the
-- upstream and the upstream's back-channel logout.
--
-- private_key_jwt (RFC 7523, OIDC Core §9): a key pair per upstream. The
-- private JWK is sealed under the master secret with the upstream's id as
-- context (DESIGN invariant 1); the public JWK is served at /federation/jwks.
ALTER TABLE federation_upstreams DROP CONSTRAINT federation_upstreams_client_auth_check;
ALTER TABLE federation_upstreams ADD CONSTRAINT federation_upstreams_client_auth_check
  CHECK (client_auth IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
ALTER TABLE federation_upstreams ADD COLUMN signing_key_ciphertext text;
ALTER TABLE federation_upstreams ADD COLUMN signing_public_jwk jsonb;

-- The upstream's session id (`sid` of its ID token) for each sign-in through
-- it, so a back-channel logout token naming only the `sid` finds the account
-- whose Gatehouse sessions end. Kept as long as a Gatehouse session could last.
CREATE TABLE federation_upstream_sessions (
  issuer      text        NOT NULL,
  sid         text        NOT NULL,
  account_id  text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (issuer, sid)
);
CREATE INDEX federation_upstream_sessions_expiry ON federation_upstream_sessions (expires_at);
