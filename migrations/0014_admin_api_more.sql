-- Admin API v1, second part (issue 14).
--
-- Optimistic concurrency for PATCH with If-Match (RFC 9110 §13.1.1): a
-- version per row, bumped by every UPDATE in the same statement (this
-- trigger), so no code path can change a row and forget it. A PATCH writes
-- `... WHERE version = $expected`; of two racing writers holding the same
-- ETag, the second re-checks that condition after the first commits and
-- matches nothing (412), so there is no lost update.
CREATE FUNCTION gatehouse_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END
$$;

ALTER TABLE clients ADD COLUMN version bigint NOT NULL DEFAULT 1;
CREATE TRIGGER clients_version BEFORE UPDATE ON clients FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_version();

ALTER TABLE resource_servers ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE resource_servers ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE TRIGGER resource_servers_version BEFORE UPDATE ON resource_servers FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_version();
