-- Email (issue 19 §3): the outbox a worker delivers from, password-reset and
-- email-verification links, and the devices an account has signed in from.

-- One message to send. It is inserted in the same transaction as the change
-- it tells of (a reset link with its token, a password changed with the new
-- hash), so a message is never sent for a change that rolled back, nor lost
-- for one that committed. The worker (src/mail/worker.ts) claims due rows
-- under a lease (SKIP LOCKED) and retries with a doubling delay. Recipient
-- and bodies are personal data and, for links, a credential in transit:
-- they are blanked as soon as the message is delivered or given up; only
-- the kind, account and counts stay, until the settled row is deleted.
CREATE TABLE mail_outbox (
  id              bigserial   PRIMARY KEY,
  kind            text        NOT NULL,
  account_id      text        REFERENCES accounts (id) ON DELETE SET NULL,
  recipient       text,
  subject         text,
  text_body       text,
  html_body       text,
  state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (state <> 'pending' OR (recipient IS NOT NULL AND subject IS NOT NULL AND text_body IS NOT NULL))
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX mail_outbox_account ON mail_outbox (account_id);

-- A single-use link, stored as the SHA-256 of its token (invariant 1): a
-- dump cannot open one. `purpose` keeps a reset link from verifying an
-- address and the reverse; `email` is the address a verification link was
-- sent to, so a link stops working when the address changes after it.
CREATE TABLE email_links (
  token_hash  bytea       PRIMARY KEY,
  purpose     text        NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
  account_id  text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  email       text        NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_links_account ON email_links (account_id, purpose);
CREATE INDEX email_links_expires_at ON email_links (expires_at);

-- Devices and networks an account signed in from, each as an HMAC (keyed
-- from the master secret) of a random device cookie, or of the client
-- address's network and the user agent: the table says "seen before" and
-- nothing else: no address, no user agent, no cookie value.
CREATE TABLE known_devices (
  account_id    text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  fingerprint   bytea       NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, fingerprint)
);
CREATE INDEX known_devices_last_seen ON known_devices (last_seen_at);
