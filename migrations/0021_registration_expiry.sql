-- When a dynamically registered client last obtained a token: the cleanup job
-- removes clients of a policy with expireUnusedAfterSeconds that have not been
-- used for that long (never used: counted from clients.created_at). A table of
-- its own rather than a column on clients, whose every UPDATE bumps the
-- version the admin API's ETags are made of; one row per client, written at
-- most once a minute per client (src/registration/usage-store.ts).
CREATE TABLE client_usage (
  client_id    text        PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
  last_used_at timestamptz NOT NULL
);

-- Per-software caps count a policy's clients by software_id.
CREATE INDEX clients_policy_software ON clients (registration_policy, (metadata->>'software_id')) WHERE registration_policy IS NOT NULL;
