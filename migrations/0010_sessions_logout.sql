-- Sessions, grants and revocation that propagates (issue 18 items 4-5, issue 14's user sessions).

-- A user's sessions are found by account (list, sign out everywhere). Session rows keep the
-- library's payload (accountId, uid, authorizations); the uid, not the cookie, names a session.
CREATE INDEX oidc_models_session_account ON oidc_models ((payload->>'accountId')) WHERE model = 'Session';
-- A client's tokens and grants, for disabling or deleting it.
CREATE INDEX oidc_models_client ON oidc_models ((payload->>'clientId')) WHERE payload ? 'clientId';

-- "Not before" cutoffs for JWT access tokens (RFC 9068), which are not stored and so cannot be
-- deleted: a token whose iat is at or before the cutoff that applies to it is inactive at
-- introspection. account_id '' with a client: every token of that client (disabled or deleted);
-- an account with client '': every token of that account (sign out everywhere, password or
-- factor change, refresh-token replay); both: that account's tokens at that client (a revoked grant).
CREATE TABLE token_cutoffs (
  account_id text        NOT NULL DEFAULT '',
  client_id  text        NOT NULL DEFAULT '',
  not_before timestamptz NOT NULL,
  CHECK (account_id <> '' OR client_id <> ''),
  PRIMARY KEY (account_id, client_id)
);
CREATE INDEX token_cutoffs_client ON token_cutoffs (client_id) WHERE account_id = '';

-- Back-channel logout tokens to deliver (OpenID Connect Back-Channel Logout 1.0): queued by
-- the service that ends sessions, sent by the server's worker off the request path, retried
-- with backoff. A sid is the per-client session id the relying party already holds from its
-- ID token; neither it nor the account id is a credential. The logout token itself is signed
-- at delivery and never stored.
CREATE TABLE backchannel_logouts (
  id              bigserial   PRIMARY KEY,
  client_id       text        NOT NULL,
  account_id      text        NOT NULL,
  sid             text,
  reason          text        NOT NULL,
  state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at) WHERE state = 'pending';
