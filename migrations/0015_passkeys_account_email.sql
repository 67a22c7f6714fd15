-- Passkeys (WebAuthn Level 3 public-key credentials) and the challenges of
-- ceremonies in progress. Invariant 1 (nothing usable at rest): a credential
-- row holds only the *public* key, and a challenge only as its SHA-256, so a
-- dump can neither sign an assertion nor answer a pending ceremony.

-- One row per registered credential. `credential_id` is the authenticator's
-- id (base64url, as WebAuthn §5.1 hands it to the RP); `counter` is the last
-- signature counter seen (§6.1.1): an assertion at or below it is a cloned
-- authenticator unless both are 0. `device_type`/`backed_up` are the BE/BS
-- flags (§6.1): a multi-device (synced) passkey, and whether it is backed up now.
CREATE TABLE passkeys (
  id            text        PRIMARY KEY,
  account_id    text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  credential_id text        NOT NULL UNIQUE,
  public_key    bytea       NOT NULL,
  counter       bigint      NOT NULL CHECK (counter >= 0),
  transports    jsonb       NOT NULL DEFAULT '[]',
  device_type   text        NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
  backed_up     boolean     NOT NULL,
  aaguid        text        NOT NULL,
  attestation   text        NOT NULL,
  name          text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz
);
CREATE INDEX passkeys_account ON passkeys (account_id);

-- The challenge a page handed to the browser, bound to one interaction and
-- one ceremony (keyed by the SHA-256 of both), single-use: verifying deletes
-- it first, so a response can be checked at most once.
CREATE TABLE webauthn_challenges (
  ceremony_hash  bytea       PRIMARY KEY,
  challenge_hash bytea       NOT NULL,
  expires_at     timestamptz NOT NULL
);
CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);

-- Two more sign-in stages: the second factor given by a passkey is waiting on
-- the passkey page, or a passkey is being registered during sign-in.
ALTER TABLE mfa_sign_ins DROP CONSTRAINT mfa_sign_ins_stage_check;
ALTER TABLE mfa_sign_ins ADD CONSTRAINT mfa_sign_ins_stage_check
  CHECK (stage IN ('totp', 'enrol', 'enrolled', 'recovered', 'passkey_enrol'));
