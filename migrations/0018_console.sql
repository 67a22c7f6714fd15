-- Issue 16: per-minute roll-ups behind the console dashboard and GET /admin/v1/stats.
-- Each node counts in memory and adds its counts here every few seconds
-- (INSERT … ON CONFLICT DO UPDATE SET count = count + excluded.count), so the
-- rows are the sum over every node and the request path never waits on them.
--   metric: tokens_issued, sign_ins_succeeded, sign_ins_failed, lockouts,
--           rate_limited, client_auth_failed, alerts_raised
--   label:  the breakdown within the metric (grant type, rate-limit class,
--           alert rule), '' when none
--   client_id: the authenticated client for tokens_issued, '' otherwise
-- Retention (GATEHOUSE_STATS_RETENTION) is swept with the other expired rows.
CREATE TABLE stats_minute (
  minute     timestamptz NOT NULL,
  metric     text        NOT NULL,
  label      text        NOT NULL DEFAULT '',
  client_id  text        NOT NULL DEFAULT '',
  count      bigint      NOT NULL CHECK (count >= 0),
  PRIMARY KEY (minute, metric, label, client_id)
);

-- The console's backend-for-frontend sessions (docs/console.md): the browser
-- holds only a random id in a __Host- cookie; the row holds its SHA-256, the
-- operator's admin access token sealed under the master secret, and when it
-- ends (the token's expiry). Shared by every node; swept when expired.
CREATE TABLE console_sessions (
  id_hash       bytea       PRIMARY KEY,
  account_id    text        NOT NULL,
  token_sealed  text        NOT NULL,
  auth_time     timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- The dashboard's scope (admin:stats.read) for the built-in roles that read
-- the admin plane: an administrator's token carries only the admin scopes its
-- roles hold (0017), so a scope without a role row would be unreachable.
INSERT INTO role_permissions (role, audience, scope) VALUES
  ('administrator', 'urn:gatehouse:admin', 'admin:stats.read'),
  ('auditor', 'urn:gatehouse:admin', 'admin:stats.read')
ON CONFLICT DO NOTHING;
