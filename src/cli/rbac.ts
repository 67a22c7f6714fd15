/**
 * `gatehouse roles …` and `gatehouse groups …` (issue 15 §5): thin commands
 * over the RBAC service, which checks and audits every change. A permission
 * is written `<audience>#<scope>`: a resource indicator has no fragment
 * (RFC 8707 §2), so the `#` cannot be part of the audience.
 */
import { InvalidArgumentError, type Command } from 'commander';

import { operator } from '../audit/events.js';
import type { Effective, Group, Holder, Permission, Role } from '../rbac/rbac.js';
import { withContext, type CliContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { isoDate, out, printFields, printJson, printTable } from './output.js';

export function roleJson(role: Role) {
  return {
    name: role.name,
    description: role.description,
    built_in: role.builtIn,
    permissions: role.permissions.map((p) => ({ audience: p.audience, scope: p.scope })),
    created_at: isoDate(role.createdAt),
    updated_at: isoDate(role.updatedAt),
  };
}

export function groupJson(group: Group) {
  return { name: group.name, description: group.description, members: group.members, roles: group.roles, created_at: isoDate(group.createdAt) };
}

const effectiveJson = (e: Effective) => ({ roles: e.roles, groups: e.groups, permissions: e.permissions });

const permissionText = (p: Permission) => `${p.audience}#${p.scope}`;

function permission(value: string): Permission {
  const at = value.lastIndexOf('#');
  if (at <= 0 || at === value.length - 1) throw new InvalidArgumentError('expected <audience>#<scope>, e.g. https://api.example.com#orders:read');
  return { audience: value.slice(0, at), scope: value.slice(at + 1) };
}

const collectPermission = (value: string, previous: Permission[] = []) => [...previous, permission(value)];

const samePermission = (a: Permission, b: Permission) => a.audience === b.audience && a.scope === b.scope;

async function findRole({ services }: CliContext, name: string): Promise<Role> {
  const role = await services.rbac.findRole(name);
  if (!role) throw new CliError(`no such role: ${name}`);
  return role;
}

async function findGroup({ services }: CliContext, name: string): Promise<Group> {
  const group = await services.rbac.findGroup(name);
  if (!group) throw new CliError(`no such group: ${name}`);
  return group;
}

/** A user named by username, email or id, as `gatehouse users` takes them. */
async function userId({ services }: CliContext, user: string): Promise<string> {
  const account = (await services.accounts.find(user)) ?? (await services.accounts.findById(user));
  if (!account) throw new CliError(`no such account: ${user}`);
  return account.id;
}

interface HolderOptions {
  user?: string;
  group?: string;
  client?: string;
}

async function holderOf(context: CliContext, options: HolderOptions): Promise<Holder> {
  const given = (['user', 'group', 'client'] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) throw new CliError('name exactly one holder: --user <user>, --group <group> or --client <client-id>');
  const kind = given[0]!;
  if (kind === 'user') return { kind, id: await userId(context, options.user!) };
  return { kind, id: options[kind]! };
}

const holderText = (h: Holder) => `${h.kind} ${h.id}`;

function printRole(role: Role): void {
  printFields([
    ['name', role.name],
    ['description', role.description],
    ['built in', role.builtIn ? 'yes' : 'no'],
    ['permissions', role.permissions.map(permissionText)],
    ['updated', isoDate(role.updatedAt)],
  ]);
}

function printGroup(group: Group): void {
  printFields([
    ['name', group.name],
    ['description', group.description],
    ['members', group.members],
    ['roles', group.roles],
    ['created', isoDate(group.createdAt)],
  ]);
}

const json = { json: '--json' } as const;
type Json = { json?: boolean };

function registerRoles(program: Command): void {
  const roles = program.command('roles').description('manage roles: named sets of permissions (resource-server scopes) held by users, groups and clients');

  roles
    .command('list')
    .description('list roles, the built-in admin roles included')
    .option(json.json, 'print a JSON array')
    .action(async (options: Json) => {
      await withContext(async ({ services }) => {
        const all = await services.rbac.listRoles();
        if (options.json) return printJson(all.map(roleJson));
        printTable(
          all,
          [
            { header: 'NAME', value: (r) => r.name },
            { header: 'BUILT-IN', value: (r) => (r.builtIn ? 'yes' : '') },
            { header: 'PERMISSIONS', value: (r) => r.permissions.length },
            { header: 'DESCRIPTION', value: (r) => r.description },
          ],
          'no roles yet: add one with `gatehouse roles add`',
        );
      });
    });

  roles
    .command('show')
    .description('show a role and its permissions')
    .argument('<name>', 'the role')
    .option(json.json, 'print a JSON object')
    .action(async (name: string, options: Json) => {
      await withContext(async (context) => {
        const role = await findRole(context, name);
        if (options.json) return printJson(roleJson(role));
        printRole(role);
      });
    });

  roles
    .command('add')
    .description('create a role')
    .argument('<name>', '1 to 64 lower-case letters, digits, dot, dash, underscore or colon')
    .option('--description <text>', 'what the role is for')
    .option('--permission <audience#scope>', 'a scope of a registered resource server (repeatable)', collectPermission)
    .option(json.json, 'print a JSON object')
    .addHelpText('after', `
Example:
  $ gatehouse roles add orders-reader --description "Reads orders" --permission 'https://api.example.com#orders:read'`)
    .action(async (name: string, options: Json & { description?: string; permission?: Permission[] }) => {
      await withContext(async ({ services }) => {
        const input = { name, ...(options.description !== undefined ? { description: options.description } : {}), permissions: options.permission ?? [] };
        const role = await withInput(input, (value) => services.rbac.createRole(operator, value));
        if (options.json) return printJson(roleJson(role));
        printRole(role);
      });
    });

  roles
    .command('update')
    .description('change a role\'s description, or replace all its permissions (built-in roles are fixed)')
    .argument('<name>', 'the role')
    .option('--description <text>', 'the new description')
    .option('--permission <audience#scope>', 'the complete new list of permissions (repeatable)', collectPermission)
    .option('--no-permissions', 'remove every permission')
    .option(json.json, 'print a JSON object')
    .action(async (name: string, options: Json & { description?: string; permission?: Permission[]; permissions?: boolean }) => {
      await withContext(async ({ services }) => {
        const permissions = options.permissions === false ? [] : options.permission;
        if (options.description === undefined && permissions === undefined) throw new CliError('nothing to change: give --description, --permission or --no-permissions');
        const change = { ...(options.description !== undefined ? { description: options.description } : {}), ...(permissions !== undefined ? { permissions } : {}) };
        const role = await withInput(change, (value) => services.rbac.updateRole(operator, name, value));
        if (options.json) return printJson(roleJson(role));
        printRole(role);
      });
    });

  roles
    .command('delete')
    .description('delete a role and every assignment of it (not a built-in role)')
    .argument('<name>', 'the role')
    .option(json.json, 'print a JSON object')
    .action(async (name: string, options: Json) => {
      await withContext(async ({ services }) => {
        await services.rbac.removeRole(operator, name);
        if (options.json) return printJson({ deleted: name });
        out(`deleted role ${name}`);
      });
    });

  const changePermissions = (verb: 'grant' | 'revoke') => async (name: string, given: string[], options: Json) => {
    const listed = given.map(permission);
    await withContext(async (context) => {
      const role = await findRole(context, name);
      const permissions =
        verb === 'grant'
          ? [...role.permissions, ...listed.filter((p) => !role.permissions.some((q) => samePermission(p, q)))]
          : role.permissions.filter((p) => !listed.some((q) => samePermission(p, q)));
      const missing = verb === 'revoke' ? listed.filter((p) => !role.permissions.some((q) => samePermission(p, q))) : [];
      if (missing.length) throw new CliError(`${name} does not carry ${missing.map(permissionText).join(', ')}`);
      const updated = await withInput({ permissions }, (value) => context.services.rbac.updateRole(operator, name, value));
      if (options.json) return printJson(roleJson(updated));
      printRole(updated);
    });
  };

  roles
    .command('grant')
    .description('add permissions to a role')
    .argument('<name>', 'the role')
    .argument('<permission...>', '<audience>#<scope>, one or more')
    .option(json.json, 'print a JSON object')
    .action(changePermissions('grant'));

  roles
    .command('revoke')
    .description('remove permissions from a role')
    .argument('<name>', 'the role')
    .argument('<permission...>', '<audience>#<scope>, one or more')
    .option(json.json, 'print a JSON object')
    .action(changePermissions('revoke'));

  const assignment = (verb: 'assign' | 'unassign') =>
    roles
      .command(verb)
      .description(verb === 'assign' ? 'give a role to a user, a group or a client (client credentials)' : 'take a role from a user, a group or a client')
      .argument('<role>', 'the role')
      .option('--user <user>', 'a user: username, email or id')
      .option('--group <group>', 'a group')
      .option('--client <client-id>', 'a client')
      .option(json.json, 'print a JSON object')
      .action(async (role: string, options: Json & HolderOptions) => {
        await withContext(async (context) => {
          const holder = await holderOf(context, options);
          await withInput(holder, (value) => (verb === 'assign' ? context.services.rbac.assign(operator, role, value) : context.services.rbac.unassign(operator, role, value)));
          if (options.json) return printJson({ role, holder, assigned: verb === 'assign' });
          out(verb === 'assign' ? `${holderText(holder)} holds ${role}` : `${holderText(holder)} no longer holds ${role}`);
        });
      });
  assignment('assign').addHelpText('after', `
Examples:
  $ gatehouse roles assign orders-reader --user alice
  $ gatehouse roles assign orders-reader --group support
  $ gatehouse roles assign orders-reader --client 7Yc0…`);
  assignment('unassign');

  roles
    .command('effective')
    .description('what a user (directly and through groups) or a client holds, and where each permission comes from')
    .option('--user <user>', 'a user: username, email or id')
    .option('--client <client-id>', 'a client')
    .option(json.json, 'print a JSON object')
    .action(async (options: Json & Omit<HolderOptions, 'group'>) => {
      await withContext(async (context) => {
        const holder = await holderOf(context, options);
        if (holder.kind === 'client' && !(await context.services.clients.find(holder.id))) throw new CliError(`no such client: ${holder.id}`);
        const effective = await context.services.rbac.effective(holder.kind === 'client' ? { kind: 'client', id: holder.id } : { kind: 'user', id: holder.id });
        if (options.json) return printJson(effectiveJson(effective));
        printFields([
          ['roles', effective.roles],
          ['groups', effective.groups],
          ['permissions', effective.permissions.map((p) => `${permissionText(p)}  (${p.via.map((v) => (v.group ? `${v.role} via ${v.group}` : v.role)).join(', ')})`)],
        ]);
      });
    });
}

function registerGroups(program: Command): void {
  const groups = program.command('groups').description('manage groups: sets of users that hold roles together');

  groups
    .command('list')
    .description('list groups')
    .option(json.json, 'print a JSON array')
    .action(async (options: Json) => {
      await withContext(async ({ services }) => {
        const all = await services.rbac.listGroups();
        if (options.json) return printJson(all.map(groupJson));
        printTable(
          all,
          [
            { header: 'NAME', value: (g) => g.name },
            { header: 'MEMBERS', value: (g) => g.members.length },
            { header: 'ROLES', value: (g) => g.roles.join(' ') },
            { header: 'DESCRIPTION', value: (g) => g.description },
          ],
          'no groups yet: add one with `gatehouse groups add`',
        );
      });
    });

  groups
    .command('show')
    .description('show a group, its members (user ids) and roles')
    .argument('<name>', 'the group')
    .option(json.json, 'print a JSON object')
    .action(async (name: string, options: Json) => {
      await withContext(async (context) => {
        const group = await findGroup(context, name);
        if (options.json) return printJson(groupJson(group));
        printGroup(group);
      });
    });

  groups
    .command('add')
    .description('create a group')
    .argument('<name>', '1 to 64 lower-case letters, digits, dot, dash, underscore or colon')
    .option('--description <text>', 'what the group is')
    .option(json.json, 'print a JSON object')
    .action(async (name: string, options: Json & { description?: string }) => {
      await withContext(async ({ services }) => {
        const group = await withInput({ name, ...(options.description !== undefined ? { description: options.description } : {}) }, (value) => services.rbac.createGroup(operator, value));
        if (options.json) return printJson(groupJson(group));
        printGroup(group);
      });
    });

  groups
    .command('delete')
    .description('delete a group: its members lose the roles it carried')
    .argument('<name>', 'the group')
    .option(json.json, 'print a JSON object')
    .action(async (name: string, options: Json) => {
      await withContext(async ({ services }) => {
        await services.rbac.removeGroup(operator, name);
        if (options.json) return printJson({ deleted: name });
        out(`deleted group ${name}`);
      });
    });

  const membership = (verb: 'add-member' | 'remove-member') =>
    groups
      .command(verb)
      .description(verb === 'add-member' ? 'add a user to a group' : 'remove a user from a group')
      .argument('<group>', 'the group')
      .argument('<user>', 'username, email or id')
      .option(json.json, 'print a JSON object')
      .action(async (group: string, user: string, options: Json) => {
        await withContext(async (context) => {
          const id = await userId(context, user);
          if (verb === 'add-member') await context.services.rbac.addMember(operator, group, id);
          else await context.services.rbac.removeMember(operator, group, id);
          if (options.json) return printJson(groupJson(await findGroup(context, group)));
          out(verb === 'add-member' ? `${user} is a member of ${group}` : `${user} is no longer a member of ${group}`);
        });
      });
  membership('add-member');
  membership('remove-member');

  const roleOfGroup = (verb: 'assign' | 'unassign') =>
    groups
      .command(verb)
      .description(verb === 'assign' ? 'give a group a role (its members hold it)' : 'take a role from a group')
      .argument('<group>', 'the group')
      .argument('<role>', 'the role')
      .option(json.json, 'print a JSON object')
      .action(async (group: string, role: string, options: Json) => {
        await withContext(async (context) => {
          const holder: Holder = { kind: 'group', id: group };
          await withInput(holder, (value) => (verb === 'assign' ? context.services.rbac.assign(operator, role, value) : context.services.rbac.unassign(operator, role, value)));
          if (options.json) return printJson(groupJson(await findGroup(context, group)));
          out(verb === 'assign' ? `members of ${group} hold ${role}` : `${group} no longer carries ${role}`);
        });
      });
  roleOfGroup('assign');
  roleOfGroup('unassign');
}

export function registerRbacCommands(program: Command): void {
  registerRoles(program);
  registerGroups(program);
}
