-- Audit log (DESIGN invariant 5) and the rate-limit counters shared by all nodes.

-- Append-only security events, chained: each row's hash is an HMAC (under a key
-- derived from the master secret, which is never in the database) over the
-- previous row's hash and the row's own canonical content. Editing, deleting or
-- reordering a row breaks the chain at that row; `gatehouse audit verify` names it.
-- seq is assigned under the chain-head row lock, so it has no gaps across nodes.
CREATE TABLE audit_events (
  seq          bigint      PRIMARY KEY,
  occurred_at  timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  type         text        NOT NULL,
  outcome      text,
  actor        text,
  subject      text,
  client_id    text,
  ip           text,
  request_id   text,
  node         text        NOT NULL,
  detail       jsonb       NOT NULL DEFAULT '{}',
  prev_hash    bytea       NOT NULL,
  hash         bytea       NOT NULL
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX audit_events_type ON audit_events (type, occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor, occurred_at) WHERE actor IS NOT NULL;

-- Append-only in the database too: an UPDATE, DELETE or TRUNCATE fails unless
-- someone with the table owner's rights first disables this trigger, a
-- deliberate act that the chain then exposes row by row.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The chain head: one row, locked FOR UPDATE while a batch is appended, so
-- writers on every node take turns and each batch links to the one before it.
CREATE TABLE audit_chain_head (
  id   boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq  bigint  NOT NULL,
  hash bytea   NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

-- rate-limiter-flexible's RateLimiterPostgres layout (it is told the table
-- exists and never creates it). Keys are `<budget>:<ip or client id>`; expire
-- is epoch milliseconds.
CREATE TABLE rate_limit_counters (
  key    varchar(255) PRIMARY KEY,
  points integer      NOT NULL DEFAULT 0,
  expire bigint
);
CREATE INDEX rate_limit_counters_expire ON rate_limit_counters (expire);
