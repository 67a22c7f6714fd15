/**
 * /admin/v1/roles, /groups, /permissions and the role assignments of users
 * and clients (issue 15 §5): thin handlers over the RBAC service, which
 * audits every change itself (and flags the ones that touch an admin
 * permission, for the admin-action alert). Reading needs admin:roles.read;
 * changing needs admin:roles.write, which only the administrator role
 * carries, because an assignment can grant any admin permission.
 */
import type { Effective, Group, Holder, Role } from '../../rbac/rbac.js';
import { adminAudience, adminScopes } from '../../resources/admin-audience.js';
import type { Services } from '../../services.js';
import { etagOf, updateIfMatch, versionTag } from '../etag.js';
import { operation, type Operation } from '../operation.js';
import { page } from '../pagination.js';
import { AdminProblem } from '../problem.js';
import {
  clientRoleParams,
  effectivePermissionsSchema,
  groupMemberParams,
  groupParams,
  groupRoleParams,
  groupSchema,
  newGroupBody,
  newRoleBody,
  permissionEntrySchema,
  permissionQuery,
  permissionsBody,
  rbacListQuery,
  roleNamesSchema,
  roleParams,
  rolePatchBody,
  roleSchema,
  userRoleParams,
} from '../rbac-schemas.js';
import { clientParams, idParams, pageOf } from '../schemas.js';

export const roleJson = (r: Role) => ({
  name: r.name,
  description: r.description,
  built_in: r.builtIn,
  permissions: r.permissions.map((p) => ({ audience: p.audience, scope: p.scope })),
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export const groupJson = (g: Group) => ({ name: g.name, description: g.description, members: g.members, roles: g.roles, created_at: g.createdAt.toISOString() });

export const effectiveJson = (e: Effective) => ({
  roles: e.roles,
  groups: e.groups,
  permissions: e.permissions.map((p) => ({ audience: p.audience, scope: p.scope, via: p.via.map((v) => (v.group ? { role: v.role, group: v.group } : { role: v.role })) })),
});

const noContent = { 204: { description: 'Done (also when it already was so).' } };

export function rbacOperations(services: Pick<Services, 'rbac' | 'accounts' | 'clients' | 'resources'>): Operation[] {
  const { rbac, accounts, clients, resources } = services;
  const roleByName = async (name: string) => {
    const role = await rbac.findRole(name);
    if (!role) throw new AdminProblem(404, 'There is no role with this name.');
    return role;
  };
  const groupByName = async (name: string) => {
    const group = await rbac.findGroup(name);
    if (!group) throw new AdminProblem(404, 'There is no group with this name.');
    return group;
  };
  // Object-level authorisation as in users.ts: an id names exactly one account.
  const userById = async (id: string) => {
    const account = await accounts.findById(id);
    if (!account) throw new AdminProblem(404, 'There is no user with this id.');
    return account;
  };
  const clientById = async (clientId: string) => {
    const client = await clients.find(clientId);
    if (!client) throw new AdminProblem(404, 'There is no client with this id.');
    return client;
  };
  const unassign = async (actor: Parameters<typeof rbac.unassign>[0], role: string, holder: Holder) => {
    await roleByName(role);
    if (!(await rbac.rolesOf(holder)).includes(role)) return;
    await rbac.unassign(actor, role, holder);
  };
  const oneRole = { 200: { description: 'The role.', schema: roleSchema } };
  const oneGroup = { 200: { description: 'The group.', schema: groupSchema } };
  const names = { 200: { description: 'The roles assigned directly (not through groups).', schema: roleNamesSchema } };

  return [
    operation({
      id: 'listPermissions', method: 'GET', path: '/permissions', tag: 'rbac', scope: 'admin:roles.read', summary: "Every permission a role can carry: each resource server's scopes and the admin API's", query: rbacListQuery,
      responses: { 200: { description: 'A page of permissions, by audience then scope.', schema: pageOf(permissionEntrySchema, 'PermissionPage') } },
      async handle({ query }) {
        const all = [
          ...adminScopes.map((scope) => ({ audience: adminAudience, scope, resource_name: 'Gatehouse admin API', rbac: true })),
          ...(await resources.list()).flatMap((r) => r.scopes.map((scope) => ({ audience: r.audience, scope, resource_name: r.name, rbac: r.rbac }))),
        ].sort((a, b) => a.audience.localeCompare(b.audience) || a.scope.localeCompare(b.scope));
        return { status: 200, body: page(all, (p) => `${p.audience} ${p.scope}`, query.cursor, query.limit, (p) => p) };
      },
    }),
    operation({
      id: 'listRoles', method: 'GET', path: '/roles', tag: 'rbac', scope: 'admin:roles.read', summary: 'List roles (built-in ones included)', query: rbacListQuery,
      responses: { 200: { description: 'A page of roles, by name.', schema: pageOf(roleSchema, 'RolePage') } },
      async handle({ query }) {
        return { status: 200, body: page(await rbac.listRoles(), (r) => r.name, query.cursor, query.limit, roleJson) };
      },
    }),
    operation({
      id: 'createRole', method: 'POST', path: '/roles', tag: 'rbac', scope: 'admin:roles.write', summary: 'Create a role with permissions', body: newRoleBody, audited: true,
      responses: { 201: { description: 'The role.', schema: roleSchema } },
      async handle({ body, caller }) {
        const role = await rbac.createRole(caller.actor, { name: body.name, ...(body.description !== undefined ? { description: body.description } : {}), permissions: body.permissions ?? [] });
        return { status: 201, body: roleJson(role), etag: versionTag(role), headers: { Location: `/admin/v1/roles/${encodeURIComponent(role.name)}` } };
      },
    }),
    operation({
      id: 'getRole', method: 'GET', path: '/roles/{name}', tag: 'rbac', scope: 'admin:roles.read', summary: 'Read a role', params: roleParams, responses: oneRole,
      async handle({ params }) {
        const role = await roleByName(params.name);
        return { status: 200, body: roleJson(role), etag: versionTag(role) };
      },
    }),
    operation({
      id: 'updateRole', method: 'PATCH', path: '/roles/{name}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Change the description or replace the permissions (If-Match required; built-in roles are fixed)',
      params: roleParams, body: rolePatchBody, etag: true, audited: true, responses: oneRole,
      async handle({ params, body, caller, ifMatch }) {
        const change = {
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.permissions !== undefined ? { permissions: body.permissions } : {}),
        };
        // Compare-and-set on the role's version (src/rbac/role-changes.ts): of two replaces holding one ETag, one wins, the other gets 412.
        const role = await updateIfMatch(ifMatch, await roleByName(params.name), (expected) => rbac.updateRoleIfVersion(caller.actor, params.name, change, expected));
        return { status: 200, body: roleJson(role), etag: versionTag(role) };
      },
    }),
    operation({
      id: 'grantRolePermissions', method: 'POST', path: '/roles/{name}/permissions', tag: 'rbac', scope: 'admin:roles.write',
      summary: 'Add permissions to a role, keeping the ones it has (no If-Match: concurrent grants all survive; built-in roles are fixed)',
      params: roleParams, body: permissionsBody, audited: true, responses: oneRole,
      async handle({ params, body, caller }) {
        const role = await rbac.grantPermissions(caller.actor, (await roleByName(params.name)).name, body.permissions);
        return { status: 200, body: roleJson(role), etag: versionTag(role) };
      },
    }),
    operation({
      id: 'revokeRolePermission', method: 'DELETE', path: '/roles/{name}/permissions', tag: 'rbac', scope: 'admin:roles.write',
      summary: 'Remove one permission from a role, keeping the others (404 when the role does not carry it)',
      params: roleParams, query: permissionQuery, audited: true, responses: oneRole,
      async handle({ params, query, caller }) {
        const role = await rbac.revokePermissions(caller.actor, (await roleByName(params.name)).name, [{ audience: query.audience, scope: query.scope }]);
        return { status: 200, body: roleJson(role), etag: versionTag(role) };
      },
    }),
    operation({
      id: 'deleteRole', method: 'DELETE', path: '/roles/{name}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Delete a role and its assignments (not a built-in one)', params: roleParams, audited: true,
      responses: { 204: { description: 'Deleted.' } },
      async handle({ params, caller }) {
        await rbac.removeRole(caller.actor, (await roleByName(params.name)).name);
        return { status: 204 };
      },
    }),
    operation({
      id: 'listGroups', method: 'GET', path: '/groups', tag: 'rbac', scope: 'admin:roles.read', summary: 'List groups', query: rbacListQuery,
      responses: { 200: { description: 'A page of groups, by name.', schema: pageOf(groupSchema, 'GroupPage') } },
      async handle({ query }) {
        return { status: 200, body: page(await rbac.listGroups(), (g) => g.name, query.cursor, query.limit, groupJson) };
      },
    }),
    operation({
      id: 'createGroup', method: 'POST', path: '/groups', tag: 'rbac', scope: 'admin:roles.write', summary: 'Create a group', body: newGroupBody, audited: true,
      responses: { 201: { description: 'The group.', schema: groupSchema } },
      async handle({ body, caller }) {
        const group = await rbac.createGroup(caller.actor, { name: body.name, ...(body.description !== undefined ? { description: body.description } : {}) });
        const json = groupJson(group);
        return { status: 201, body: json, etag: etagOf(json), headers: { Location: `/admin/v1/groups/${encodeURIComponent(group.name)}` } };
      },
    }),
    operation({
      id: 'getGroup', method: 'GET', path: '/groups/{name}', tag: 'rbac', scope: 'admin:roles.read', summary: 'Read a group, its members and roles', params: groupParams, responses: oneGroup,
      async handle({ params }) {
        const json = groupJson(await groupByName(params.name));
        return { status: 200, body: json, etag: etagOf(json) };
      },
    }),
    operation({
      id: 'deleteGroup', method: 'DELETE', path: '/groups/{name}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Delete a group (its members lose its roles)', params: groupParams, audited: true,
      responses: { 204: { description: 'Deleted.' } },
      async handle({ params, caller }) {
        await rbac.removeGroup(caller.actor, (await groupByName(params.name)).name);
        return { status: 204 };
      },
    }),
    operation({
      id: 'addGroupMember', method: 'PUT', path: '/groups/{name}/members/{id}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Add a user (by id) to a group', params: groupMemberParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const group = await groupByName(params.name);
        await rbac.addMember(caller.actor, group.name, (await userById(params.id)).id);
        return { status: 204 };
      },
    }),
    operation({
      id: 'removeGroupMember', method: 'DELETE', path: '/groups/{name}/members/{id}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Remove a user from a group', params: groupMemberParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const group = await groupByName(params.name);
        const user = await userById(params.id);
        if (group.members.includes(user.id)) await rbac.removeMember(caller.actor, group.name, user.id);
        return { status: 204 };
      },
    }),
    operation({
      id: 'assignGroupRole', method: 'PUT', path: '/groups/{name}/roles/{role}', tag: 'rbac', scope: 'admin:roles.write', summary: "Give a group a role (its members hold it)", params: groupRoleParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const group = await groupByName(params.name);
        await rbac.assign(caller.actor, (await roleByName(params.role)).name, { kind: 'group', id: group.name });
        return { status: 204 };
      },
    }),
    operation({
      id: 'unassignGroupRole', method: 'DELETE', path: '/groups/{name}/roles/{role}', tag: 'rbac', scope: 'admin:roles.write', summary: "Take a role from a group", params: groupRoleParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const group = await groupByName(params.name);
        await unassign(caller.actor, params.role, { kind: 'group', id: group.name });
        return { status: 204 };
      },
    }),
    operation({
      id: 'listUserRoles', method: 'GET', path: '/users/{id}/roles', tag: 'rbac', scope: 'admin:roles.read', summary: "A user's directly assigned roles", params: idParams, responses: names,
      async handle({ params }) {
        return { status: 200, body: { items: await rbac.rolesOf({ kind: 'user', id: (await userById(params.id)).id }) } };
      },
    }),
    operation({
      id: 'assignUserRole', method: 'PUT', path: '/users/{id}/roles/{role}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Give a user a role', params: userRoleParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const user = await userById(params.id);
        await rbac.assign(caller.actor, (await roleByName(params.role)).name, { kind: 'user', id: user.id });
        return { status: 204 };
      },
    }),
    operation({
      id: 'unassignUserRole', method: 'DELETE', path: '/users/{id}/roles/{role}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Take a role from a user (not the ones held through groups)', params: userRoleParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const user = await userById(params.id);
        await unassign(caller.actor, params.role, { kind: 'user', id: user.id });
        return { status: 204 };
      },
    }),
    operation({
      id: 'getUserPermissions', method: 'GET', path: '/users/{id}/permissions', tag: 'rbac', scope: 'admin:roles.read', summary: "A user's effective permissions: direct roles and groups', each with where it comes from", params: idParams,
      responses: { 200: { description: 'What tokens for this user may carry at each RBAC-on audience.', schema: effectivePermissionsSchema } },
      async handle({ params }) {
        return { status: 200, body: effectiveJson(await rbac.effective({ kind: 'user', id: (await userById(params.id)).id })) };
      },
    }),
    operation({
      id: 'listClientRoles', method: 'GET', path: '/clients/{clientId}/roles', tag: 'rbac', scope: 'admin:roles.read', summary: "A client's roles (for client credentials)", params: clientParams, responses: names,
      async handle({ params }) {
        return { status: 200, body: { items: await rbac.rolesOf({ kind: 'client', id: (await clientById(params.clientId)).clientId }) } };
      },
    }),
    operation({
      id: 'assignClientRole', method: 'PUT', path: '/clients/{clientId}/roles/{role}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Give a client a role (its client-credentials tokens may carry its permissions)', params: clientRoleParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const client = await clientById(params.clientId);
        await rbac.assign(caller.actor, (await roleByName(params.role)).name, { kind: 'client', id: client.clientId });
        return { status: 204 };
      },
    }),
    operation({
      id: 'unassignClientRole', method: 'DELETE', path: '/clients/{clientId}/roles/{role}', tag: 'rbac', scope: 'admin:roles.write', summary: 'Take a role from a client', params: clientRoleParams, audited: true, responses: noContent,
      async handle({ params, caller }) {
        const client = await clientById(params.clientId);
        await unassign(caller.actor, params.role, { kind: 'client', id: client.clientId });
        return { status: 204 };
      },
    }),
  ];
}
