/** `gatehouse groups …` (issue 15 §5): groups of users that hold roles together, over the RBAC service. */
import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import type { Group, Holder } from '../rbac/rbac.js';
import { withContext, type CliContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { isoDate, out, printFields, printJson, printTable } from './output.js';

type Json = { json?: boolean };
const json = { json: '--json' } as const;

export function groupJson(group: Group) {
  return { name: group.name, description: group.description, members: group.members, roles: group.roles, created_at: isoDate(group.createdAt) };
}

async function findGroup({ services }: CliContext, name: string): Promise<Group> {
  const group = await services.rbac.findGroup(name);
  if (!group) throw new CliError(`no such group: ${name}`);
  return group;
}

/** A user named by username, email or id, as `gatehouse users` takes them. */
export async function userId({ services }: CliContext, user: string): Promise<string> {
  const account = (await services.accounts.find(user)) ?? (await services.accounts.findById(user));
  if (!account) throw new CliError(`no such account: ${user}`);
  return account.id;
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

export function registerGroups(program: Command): void {
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

