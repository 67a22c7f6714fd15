-- Atomic If-Match for users, registration policies and roles (issues 14 §4
-- and 15 §5): the same per-row version as clients and resource servers
-- (0014), bumped by trigger on every UPDATE whichever path makes it (admin
-- API, CLI, self-service, the email confirmation, the 0017 admin-marker
-- trigger), so the admin API's ETag is made of the version and a PATCH or
-- PUT writes `... WHERE version = $expected`. Of two writers holding the
-- same ETag the second re-checks the condition after the first commits,
-- matches nothing and is answered 412: no lost update.
ALTER TABLE accounts ADD COLUMN version bigint NOT NULL DEFAULT 1;
CREATE TRIGGER accounts_version BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_version();

ALTER TABLE registration_policies ADD COLUMN version bigint NOT NULL DEFAULT 1;
CREATE TRIGGER registration_policies_version BEFORE UPDATE ON registration_policies FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_version();

ALTER TABLE roles ADD COLUMN version bigint NOT NULL DEFAULT 1;
CREATE TRIGGER roles_version BEFORE UPDATE ON roles FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_version();

-- A role's permissions are part of its representation but live in their own
-- rows: adding or removing one (a grant, a revoke, a replace, a migration
-- adding built-in permissions) touches the role, which bumps its version. A
-- role being deleted is already gone when its rows cascade, so the UPDATE
-- matches nothing then.
CREATE FUNCTION role_permissions_touch_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE roles SET updated_at = now() WHERE name = CASE WHEN TG_OP = 'DELETE' THEN OLD.role ELSE NEW.role END;
  RETURN NULL;
END;
$$;

CREATE TRIGGER role_permissions_touch_role
AFTER INSERT OR DELETE ON role_permissions
FOR EACH ROW EXECUTE FUNCTION role_permissions_touch_role();
