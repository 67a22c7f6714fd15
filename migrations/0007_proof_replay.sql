-- One-time-use records of proof JWTs: DPoP proofs (RFC 9449 §11.1) and client
-- assertions (RFC 7523 §3, `jti`), shared by every node so a proof accepted by
-- one node is refused by all the others.
--
-- Invariant 1 (nothing usable at rest): only SHA-256 of (issuer, jti) is kept.
-- Bounded: a row lives as long as the proof could still be accepted (the
-- library's acceptance window, 5 minutes), then the cleanup schedule deletes
-- it; a fixed-size row per proof accepted in that window, no more.

CREATE TABLE proof_replays (
  jti_hash   bytea       PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX proof_replays_expires_at ON proof_replays (expires_at);
