-- Sign-in through upstream identity providers (issue 20).
--
-- An upstream is an OpenID Connect provider found by discovery, or an OAuth 2.0
-- provider that is not one (GitHub) with its endpoints written out. Its client
-- secret is sealed under the master secret (DESIGN invariant 1): a dump holds
-- only ciphertext bound to the upstream's id.
CREATE TABLE federation_upstreams (
  id                       text        PRIMARY KEY,
  name                     text        NOT NULL,
  display_name             text        NOT NULL,
  protocol                 text        NOT NULL CHECK (protocol IN ('oidc', 'oauth2')),
  -- The issuer identifier links are keyed by; for OIDC also the discovery base.
  issuer                   text        NOT NULL,
  -- oauth2 only: authorization, token and user endpoints, and how their answer maps.
  endpoints                jsonb,
  client_id                text        NOT NULL,
  client_secret_ciphertext text,
  client_auth              text        NOT NULL CHECK (client_auth IN ('client_secret_basic', 'client_secret_post', 'none')),
  scopes                   jsonb       NOT NULL,
  claim_mapping            jsonb       NOT NULL,
  linking                  text        NOT NULL CHECK (linking IN ('jit-create', 'link-after-sign-in', 'link-by-verified-email-when-trusted', 'refuse')),
  second_factor            text        NOT NULL CHECK (second_factor IN ('trust-upstream', 'always-ask')),
  domains                  jsonb       NOT NULL DEFAULT '[]',
  end_upstream_session     boolean     NOT NULL DEFAULT false,
  enabled                  boolean     NOT NULL DEFAULT true,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX federation_upstreams_name ON federation_upstreams (lower(name));

-- An upstream identity tied to a local account: (issuer, subject), never an email.
-- Keyed by issuer, not upstream id, so re-creating an upstream keeps its links.
CREATE TABLE federation_links (
  issuer        text        NOT NULL,
  subject       text        NOT NULL,
  account_id    text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  upstream_id   text        REFERENCES federation_upstreams (id) ON DELETE SET NULL,
  -- Names of upstream groups last seen (RBAC, another issue, decides what they grant).
  groups        jsonb       NOT NULL DEFAULT '[]',
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX federation_links_account ON federation_links (account_id);

-- A sign-in sent upstream and not back yet, keyed by the SHA-256 of its state;
-- the interaction id, PKCE verifier and nonce are sealed together. Taken (deleted) once: a replayed
-- state finds nothing.
CREATE TABLE federation_attempts (
  state_hash        bytea       PRIMARY KEY,
  interaction_hash  bytea       NOT NULL,
  upstream_id       text        NOT NULL REFERENCES federation_upstreams (id) ON DELETE CASCADE,
  checks_ciphertext text        NOT NULL,
  expires_at        timestamptz NOT NULL
);
CREATE INDEX federation_attempts_expiry ON federation_attempts (expires_at);

-- An upstream identity waiting for its local account's password sign-in
-- (linking `link-after-sign-in`), keyed by the SHA-256 of the interaction id.
CREATE TABLE federation_pending_links (
  interaction_hash bytea       PRIMARY KEY,
  issuer           text        NOT NULL,
  subject          text        NOT NULL,
  upstream_id      text        NOT NULL REFERENCES federation_upstreams (id) ON DELETE CASCADE,
  expires_at       timestamptz NOT NULL
);
