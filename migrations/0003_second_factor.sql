-- Second factor (TOTP, RFC 6238), recovery codes, sign-ins waiting for their
-- second factor, and the failed-attempt counters behind the login lockout.
-- Invariant 1 (nothing usable at rest): seeds and the recovery-code key are
-- AES-256-GCM ciphertext under the master secret; recovery codes are stored
-- only as keyed hashes; interaction ids only as SHA-256.

-- One active TOTP factor per account. `last_used_step` is the RFC 6238 time
-- step of the last accepted code: a code for that step or an earlier one is a
-- replay (RFC 6238 §5.2), and the conditional UPDATE that advances it is what
-- stops two parallel requests from both spending the same code.
CREATE TABLE totp_factors (
  account_id              text        PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  seed_ciphertext         text        NOT NULL,
  recovery_key_ciphertext text        NOT NULL,
  last_used_step          bigint      NOT NULL,
  last_used_at            timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now()
);

-- Single-use recovery codes, as HMAC-SHA256 under the factor's own sealed key.
CREATE TABLE recovery_codes (
  account_id text        NOT NULL REFERENCES totp_factors (account_id) ON DELETE CASCADE,
  code_hash  bytea       NOT NULL,
  used_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, code_hash)
);

-- The password-verified state between the password page and the second
-- factor, bound to one interaction (keyed by the SHA-256 of its id) and
-- expiring with it. `stage` is where the sign-in stands; an enrolment in
-- progress keeps the seed it showed, sealed, until the user confirms it.
CREATE TABLE mfa_sign_ins (
  interaction_hash          bytea       PRIMARY KEY,
  account_id                text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  stage                     text        NOT NULL CHECK (stage IN ('totp', 'enrol', 'enrolled', 'recovered')),
  amr                       jsonb       NOT NULL,
  enrolment_seed_ciphertext text,
  expires_at                timestamptz NOT NULL
);
CREATE INDEX mfa_sign_ins_expires_at ON mfa_sign_ins (expires_at);

-- Failed password and code attempts per bucket (`account:<id>`, `ip:<address>`,
-- or `login:<keyed hash>` for names that match no account), in a fixed window
-- that starts with the first failure. An attempt is counted *before* it is
-- checked, by one conditional upsert, so parallel attempts cannot overrun the
-- limit; a successful attempt gives its slot back.
CREATE TABLE login_failures (
  bucket            text        PRIMARY KEY,
  failures          integer     NOT NULL CHECK (failures >= 0),
  window_started_at timestamptz NOT NULL
);
CREATE INDEX login_failures_window ON login_failures (window_started_at);
