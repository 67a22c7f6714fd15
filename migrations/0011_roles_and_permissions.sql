-- Roles and permissions (issue 15, docs/rbac.md).
--
-- A permission is one scope of one resource server (audience + scope). The
-- admin API's audience, urn:gatehouse:admin, is built in and has no row in
-- resource_servers, so permissions name audiences without a foreign key; the
-- service checks that the audience and scope exist when a role is changed.
CREATE TABLE roles (
  name         text        PRIMARY KEY,
  description  text        NOT NULL DEFAULT '',
  -- Built-in roles (the admin plane's) cannot be changed or removed.
  built_in     boolean     NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_permissions (
  role      text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
  audience  text NOT NULL,
  scope     text NOT NULL,
  PRIMARY KEY (role, audience, scope)
);
CREATE INDEX role_permissions_audience ON role_permissions (audience);

CREATE TABLE groups (
  name         text        PRIMARY KEY,
  description  text        NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
  group_name  text NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
  account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  PRIMARY KEY (group_name, account_id)
);
CREATE INDEX group_members_account ON group_members (account_id);

-- A role held by exactly one of a user, a group or a client; the foreign keys
-- remove an assignment with its holder.
CREATE TABLE role_assignments (
  id          bigserial PRIMARY KEY,
  role        text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
  account_id  text REFERENCES accounts (id) ON DELETE CASCADE,
  group_name  text REFERENCES groups (name) ON DELETE CASCADE,
  client_id   text REFERENCES clients (client_id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (num_nonnulls(account_id, group_name, client_id) = 1)
);
CREATE UNIQUE INDEX role_assignments_account ON role_assignments (account_id, role) WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX role_assignments_group ON role_assignments (group_name, role) WHERE group_name IS NOT NULL;
CREATE UNIQUE INDEX role_assignments_client ON role_assignments (client_id, role) WHERE client_id IS NOT NULL;

-- Per resource server: whether RBAC narrows its scopes, what an unheld
-- requested scope does, and which claims its JWT access tokens carry.
-- Resource servers registered before this migration keep RBAC off (their
-- clients got every scope until now); new ones get it on (the column default
-- changes after existing rows were filled). The migration path for an existing
-- API is in docs/rbac.md: assign roles first, then `gatehouse resources set <audience> --rbac on`.
ALTER TABLE resource_servers ADD COLUMN rbac boolean NOT NULL DEFAULT false;
ALTER TABLE resource_servers ALTER COLUMN rbac SET DEFAULT true;
ALTER TABLE resource_servers ADD COLUMN unheld_scopes text NOT NULL DEFAULT 'drop' CHECK (unheld_scopes IN ('drop', 'refuse'));
ALTER TABLE resource_servers ADD COLUMN token_claims jsonb NOT NULL DEFAULT '[]';

-- The admin plane's built-in roles (src/rbac/built-in.ts names the same).
INSERT INTO roles (name, description, built_in) VALUES
  ('administrator', 'Every admin API permission', true),
  ('user-manager', 'Reads and changes users', true),
  ('auditor', 'Reads everything through the admin API, the audit log included; changes nothing', true),
  ('key-manager', 'Reads and rotates signing keys', true);

INSERT INTO role_permissions (role, audience, scope)
SELECT 'administrator', 'urn:gatehouse:admin', s FROM unnest(ARRAY[
  'admin:users.read', 'admin:users.write', 'admin:clients.read', 'admin:clients.write',
  'admin:resources.read', 'admin:resources.write', 'admin:registration.read', 'admin:registration.write',
  'admin:keys.read', 'admin:keys.write', 'admin:audit.read']) AS s
UNION ALL
SELECT 'user-manager', 'urn:gatehouse:admin', s FROM unnest(ARRAY['admin:users.read', 'admin:users.write']) AS s
UNION ALL
SELECT 'auditor', 'urn:gatehouse:admin', s FROM unnest(ARRAY[
  'admin:users.read', 'admin:clients.read', 'admin:resources.read', 'admin:registration.read',
  'admin:keys.read', 'admin:audit.read']) AS s
UNION ALL
SELECT 'key-manager', 'urn:gatehouse:admin', s FROM unnest(ARRAY['admin:keys.read', 'admin:keys.write']) AS s;

-- The admin marker of 0008 becomes the administrator role; `gatehouse users
-- set-admin` now assigns and removes that role (the column stays for one
-- release, unread, so a rollback of the code still finds it).
INSERT INTO role_assignments (role, account_id) SELECT 'administrator', id FROM accounts WHERE admin;
