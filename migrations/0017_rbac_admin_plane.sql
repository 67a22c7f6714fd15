-- The admin plane through roles (issue 15 §4, docs/rbac.md "Admin plane").
--
-- 1. Two admin API scopes for managing roles and groups: admin:roles.read
--    (roles, groups, assignments, effective permissions) and admin:roles.write
--    (changing them). Writing roles can grant any admin permission, so only
--    the administrator role carries it; the auditor reads.
INSERT INTO role_permissions (role, audience, scope) VALUES
  ('administrator', 'urn:gatehouse:admin', 'admin:roles.read'),
  ('administrator', 'urn:gatehouse:admin', 'admin:roles.write'),
  ('auditor', 'urn:gatehouse:admin', 'admin:roles.read')
ON CONFLICT DO NOTHING;

-- 2. The administrator role is what authorises a person on the admin API
--    now; the 0008 marker column follows it, so every reader of
--    accounts.admin (the first-run check, user listings) sees the role. An
--    account flagged before 0011 already holds the role (0011 migrated it);
--    this fills any flag set since then by code that wrote only the column.
INSERT INTO role_assignments (role, account_id)
SELECT 'administrator', a.id FROM accounts a
 WHERE a.admin AND NOT EXISTS (SELECT 1 FROM role_assignments r WHERE r.role = 'administrator' AND r.account_id = a.id);

UPDATE accounts a SET admin = EXISTS (SELECT 1 FROM role_assignments r WHERE r.role = 'administrator' AND r.account_id = a.id);

CREATE FUNCTION accounts_admin_follows_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.role = 'administrator' AND NEW.account_id IS NOT NULL THEN
    UPDATE accounts SET admin = true WHERE id = NEW.account_id AND NOT admin;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.role = 'administrator' AND OLD.account_id IS NOT NULL THEN
    UPDATE accounts SET admin = EXISTS (SELECT 1 FROM role_assignments r WHERE r.role = 'administrator' AND r.account_id = OLD.account_id)
     WHERE id = OLD.account_id;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER role_assignments_admin_marker
AFTER INSERT OR UPDATE OR DELETE ON role_assignments
FOR EACH ROW EXECUTE FUNCTION accounts_admin_follows_role();
