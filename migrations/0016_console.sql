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
