-- Invitations to sign up (issue 19 §5, GATEHOUSE_SIGNUP=invite). An operator
-- invites an address (CLI `gatehouse users invite`, POST /admin/v1/invitations);
-- the link's token is kept only as its SHA-256 (invariant 1), works once,
-- and expires. `account_id` is the account the invitation became, so an
-- operator can tell which invitations were taken up; `used_at` is set by the
-- one UPDATE that spends it (src/signup/store.ts).
CREATE TABLE invitations (
  id          text        PRIMARY KEY,
  token_hash  bytea       NOT NULL UNIQUE,
  email       text        NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  account_id  text        REFERENCES accounts (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_email ON invitations (lower(email));
CREATE INDEX invitations_expires_at ON invitations (expires_at);
