/**
 * `gatehouse roles …` (issue 15 §5; `gatehouse groups …` in groups.ts): thin commands
 * over the RBAC service, which checks and audits every change. A permission
 * is written `<audience>#<scope>`: a resource indicator has no fragment
 * (RFC 8707 §2), so the `#` cannot be part of the audience.
 */
import { InvalidArgumentError, type Command } from 'commander';

import { operator } from '../audit/events.js';
import type { Effective, Holder, Permission, Role } from '../rbac/rbac.js';
import { withContext, type CliContext } from './context.js';
import { registerGroups, userId } from './groups.js';
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

const effectiveJson = (e: Effective) => ({ roles: e.roles, groups: e.groups, permissions: e.permissions });

const permissionText = (p: Permission) => `${p.audience}#${p.scope}`;

function permission(value: string): Permission {
  const at = value.lastIndexOf('#');
  if (at <= 0 || at === value.length - 1) throw new InvalidArgumentError('expected <audience>#<scope>, e.g. https://api.example.com#orders:read');
  return { audience: value.slice(0, at), scope: value.slice(at + 1) };
}

const collectPermission = (value: string, previous: Permission[] = []) => [...previous, permission(value)];


async function findRole({ services }: CliContext, name: string): Promise<Role> {
  const role = await services.rbac.findRole(name);
  if (!role) throw new CliError(`no such role: ${name}`);
  return role;
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

  // Row by row in the service (src/rbac/role-changes.ts): two grants to one role at once both survive.
  const changePermissions = (verb: 'grant' | 'revoke') => async (name: string, given: string[], options: Json) => {
    const listed = given.map(permission);
    await withContext(async (context) => {
      await findRole(context, name);
      const { rbac } = context.services;
      const updated = await withInput(listed, (value) => (verb === 'grant' ? rbac.grantPermissions(operator, name, value) : rbac.revokePermissions(operator, name, value)));
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

export function registerRbacCommands(program: Command): void {
  registerRoles(program);
  registerGroups(program);
}
