-- Gatehouse initial schema.
-- Invariant 1 (nothing usable at rest): oidc_models keys rows by a SHA-256 of the
-- library's identifier (token values, codes, session ids) and never stores the
-- identifier itself; secrets elsewhere are AES-256-GCM ciphertext or argon2id hashes.

CREATE TABLE oidc_models (
  model            text        NOT NULL,
  id_hash          bytea       NOT NULL,
  payload          jsonb       NOT NULL,
  grant_id         text,
  session_uid_hash bytea,
  user_code_hash   bytea,
  expires_at       timestamptz,
  consumed_at      timestamptz,
  PRIMARY KEY (model, id_hash)
);
CREATE INDEX oidc_models_grant_id ON oidc_models (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_models_session_uid ON oidc_models (model, session_uid_hash) WHERE session_uid_hash IS NOT NULL;
CREATE INDEX oidc_models_user_code ON oidc_models (model, user_code_hash) WHERE user_code_hash IS NOT NULL;
CREATE INDEX oidc_models_expires_at ON oidc_models (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE accounts (
  id             text        PRIMARY KEY,
  username       text        NOT NULL,
  email          text,
  email_verified boolean     NOT NULL DEFAULT false,
  name           text,
  given_name     text,
  family_name    text,
  password_hash  text        NOT NULL,
  disabled       boolean     NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_username ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE clients (
  client_id         text        PRIMARY KEY,
  metadata          jsonb       NOT NULL,
  secret_ciphertext text,
  disabled          boolean     NOT NULL DEFAULT false,
  source            text        NOT NULL CHECK (source IN ('cli', 'registration')),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE resource_servers (
  audience         text        PRIMARY KEY,
  name             text        NOT NULL,
  scopes           jsonb       NOT NULL DEFAULT '[]',
  access_token_ttl integer     NOT NULL,
  token_format     text        NOT NULL CHECK (token_format IN ('jwt', 'opaque')),
  signing_alg      text        NOT NULL DEFAULT 'ES256',
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
  kid                text        PRIMARY KEY,
  alg                text        NOT NULL,
  public_jwk         jsonb       NOT NULL,
  private_ciphertext text        NOT NULL,
  state              text        NOT NULL CHECK (state IN ('next', 'active', 'retired', 'revoked')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  activate_at        timestamptz NOT NULL DEFAULT now(),
  retire_at          timestamptz,
  delete_after       timestamptz
);
CREATE INDEX signing_keys_state ON signing_keys (state);
