/**
 * /admin/v1/registration-policies and /admin/v1/initial-access-tokens: thin
 * handlers over the registration services (src/registration/), which audit
 * every change with the caller's actor. The API speaks snake_case; the rules
 * are judged by the service's own schema, so the CLI and the API accept
 * exactly the same policies.
 */
import { z } from 'zod';

import type { InitialAccessToken } from '../../registration/initial-access-tokens.js';
import type { PolicyInput } from '../../registration/policy.js';
import { policyNameSchema, type RegistrationPolicy } from '../../registration/policies.js';
import type { Services } from '../../services.js';
import { updateIfMatch, versionTag } from '../etag.js';
import { operation, type Operation } from '../operation.js';
import { createdKey, page } from '../pagination.js';
import { AdminProblem, problemTypes } from '../problem.js';
import {
  createdIatSchema,
  iatListQuery,
  iatParams,
  iatSchema,
  newIatBody,
  newPolicyBody,
  policyListQuery,
  policyParams,
  policyReplaceBody,
  type policyRulesBody,
  policySchema,
} from '../registration-schemas.js';
import { pageOf } from '../schemas.js';

type RulesBody = z.output<typeof policyRulesBody>;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (name: string) => name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

function rulesInput(body: RulesBody | undefined): PolicyInput {
  return Object.fromEntries(Object.entries(body ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => [camel(k), v])) as PolicyInput;
}

export const policyJson = (p: RegistrationPolicy) => ({
  name: p.name,
  description: p.description,
  rules: {
    grant_types: p.rules.grantTypes,
    auth_methods: p.rules.authMethods,
    default_auth_method: p.rules.defaultAuthMethod,
    redirect_hosts: p.rules.redirectHosts ?? null,
    native_redirects: p.rules.nativeRedirects,
    scopes: p.rules.scopes,
    resources: p.rules.resources,
    max_clients_per_token: p.rules.maxClientsPerToken ?? null,
    secret_lifetime_seconds: p.rules.secretLifetimeSeconds ?? null,
    require_software_statement: p.rules.requireSoftwareStatement,
  },
  created_at: p.createdAt.toISOString(),
  updated_at: p.updatedAt.toISOString(),
});

export const iatJson = (t: InitialAccessToken) => ({
  id: t.id,
  policy: t.policy,
  description: t.description,
  max_uses: t.maxUses,
  uses: t.uses,
  status: t.status,
  expires_at: t.expiresAt.toISOString(),
  revoked_at: t.revokedAt ? t.revokedAt.toISOString() : null,
  last_used_at: t.lastUsedAt ? t.lastUsedAt.toISOString() : null,
  created_at: t.createdAt.toISOString(),
});

/** The service's judgement of a name or rules, as a 400 naming the API's fields (never the value). */
async function judged<T>(write: () => Promise<T>, where: string): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!(error instanceof z.ZodError)) throw error;
    const fields = [...new Set(error.issues.map((i) => [where, ...i.path.map((p) => snake(String(p)))].join('.')))];
    throw new AdminProblem(400, error.issues.map((i) => i.message).join('; '), { type: problemTypes.validation, fields });
  }
}

export function registrationOperations(services: Pick<Services, 'registrationPolicies' | 'initialAccessTokens'>): Operation[] {
  const { registrationPolicies: policies, initialAccessTokens: iats } = services;
  const byName = async (name: string) => {
    const policy = await policies.find(name);
    if (!policy) throw new AdminProblem(404, 'There is no registration policy with this name.');
    return policy;
  };
  const byId = async (id: string) => {
    const token = await iats.find(id);
    if (!token) throw new AdminProblem(404, 'There is no initial access token with this id.');
    return token;
  };
  const onePolicy = { 200: { description: 'The policy, with every rule as it applies (defaults filled in).', schema: policySchema } };
  return [
    operation({
      id: 'listRegistrationPolicies', method: 'GET', path: '/registration-policies', tag: 'registration', scope: 'admin:registration.read', summary: 'List registration policies (by name)',
      query: policyListQuery, responses: { 200: { description: 'A page of policies.', schema: pageOf(policySchema, 'RegistrationPolicyPage') } },
      async handle({ query }) {
        return { status: 200, body: page(await policies.list(), (p) => p.name, query.cursor, query.limit, policyJson) };
      },
    }),
    operation({
      id: 'createRegistrationPolicy', method: 'POST', path: '/registration-policies', tag: 'registration', scope: 'admin:registration.write',
      summary: 'Create a registration policy (rules left out take their defaults)', body: newPolicyBody, audited: true, idempotent: true,
      responses: { 201: { description: 'The policy.', schema: policySchema } },
      async handle({ body, caller }) {
        const name = await judged(async () => policyNameSchema.parse(body.name), 'body.name');
        if (await policies.find(name)) throw new AdminProblem(409, 'A registration policy with this name exists; replace it with PUT.', { type: problemTypes.conflict });
        const policy = await judged(() => policies.set(caller.actor, name, rulesInput(body.rules), body.description), 'body.rules');
        return { status: 201, body: policyJson(policy), etag: versionTag(policy), headers: { Location: `/admin/v1/registration-policies/${encodeURIComponent(policy.name)}` } };
      },
    }),
    operation({
      id: 'getRegistrationPolicy', method: 'GET', path: '/registration-policies/{name}', tag: 'registration', scope: 'admin:registration.read', summary: 'Read a registration policy',
      params: policyParams, responses: onePolicy,
      async handle({ params }) {
        const policy = await byName(params.name);
        return { status: 200, body: policyJson(policy), etag: versionTag(policy) };
      },
    }),
    operation({
      id: 'replaceRegistrationPolicy', method: 'PUT', path: '/registration-policies/{name}', tag: 'registration', scope: 'admin:registration.write',
      summary: 'Replace a policy\'s description and rules as a whole (rules left out take their defaults; If-Match required). Clients registered under it are held to the new rules at their next update.',
      params: policyParams, body: policyReplaceBody, etag: true, audited: true, responses: onePolicy,
      async handle({ params, body, caller, ifMatch }) {
        const current = await byName(params.name);
        const description = body.description === undefined ? (current.description ?? undefined) : (body.description ?? undefined);
        // Compare-and-set on the version: of two writers holding one ETag, exactly one wins, the other gets 412.
        const policy = await updateIfMatch(ifMatch, current, (expected) => judged(() => policies.replace(caller.actor, current.name, rulesInput(body.rules), description, expected), 'body.rules'));
        return { status: 200, body: policyJson(policy), etag: versionTag(policy) };
      },
    }),
    operation({
      id: 'deleteRegistrationPolicy', method: 'DELETE', path: '/registration-policies/{name}', tag: 'registration', scope: 'admin:registration.write',
      summary: 'Remove a policy no token or client refers to (else 409)', params: policyParams, audited: true, responses: { 204: { description: 'Removed.' } },
      async handle({ params, caller }) {
        await policies.remove(caller.actor, (await byName(params.name)).name);
        return { status: 204 };
      },
    }),
    operation({
      id: 'listInitialAccessTokens', method: 'GET', path: '/initial-access-tokens', tag: 'registration', scope: 'admin:registration.read',
      summary: "Initial access tokens' metadata (never their values)", query: iatListQuery,
      responses: { 200: { description: 'A page of tokens, oldest first.', schema: pageOf(iatSchema, 'InitialAccessTokenPage') } },
      async handle({ query }) {
        const all = (await iats.list()).filter((t) => query.status === undefined || t.status === query.status);
        return { status: 200, body: page(all, (t) => createdKey(t.createdAt, t.id), query.cursor, query.limit, iatJson) };
      },
    }),
    operation({
      id: 'createInitialAccessToken', method: 'POST', path: '/initial-access-tokens', tag: 'registration', scope: 'admin:registration.write',
      summary: 'Mint an initial access token for dynamic registration; its value is shown once', body: newIatBody, audited: true, idempotent: true,
      responses: { 201: { description: 'The token\'s metadata and, once, its value.', schema: createdIatSchema } },
      secretFields: ['initial_access_token'],
      async handle({ body, caller }) {
        if (body.policy !== undefined && !(await policies.find(body.policy))) {
          throw new AdminProblem(400, 'There is no registration policy with this name.', { type: problemTypes.validation, fields: ['body.policy'] });
        }
        const { token, value } = await iats.create(caller.actor, {
          ...(body.policy !== undefined ? { policy: body.policy } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
          expiresInSeconds: body.expires_in,
          ...(body.max_uses !== undefined ? { maxUses: body.max_uses } : {}),
        });
        return { status: 201, body: { token: iatJson(token), initial_access_token: value }, headers: { Location: `/admin/v1/initial-access-tokens/${encodeURIComponent(token.id)}` } };
      },
    }),
    operation({
      id: 'getInitialAccessToken', method: 'GET', path: '/initial-access-tokens/{id}', tag: 'registration', scope: 'admin:registration.read', summary: "An initial access token's metadata",
      params: iatParams, responses: { 200: { description: 'The token (without its value).', schema: iatSchema } },
      async handle({ params }) {
        return { status: 200, body: iatJson(await byId(params.id)) };
      },
    }),
    operation({
      id: 'revokeInitialAccessToken', method: 'DELETE', path: '/initial-access-tokens/{id}', tag: 'registration', scope: 'admin:registration.write',
      summary: 'Revoke an initial access token (the record stays, with revoked_at)', params: iatParams, audited: true,
      responses: { 204: { description: 'Revoked: it registers no more clients.' } },
      async handle({ params, caller }) {
        await iats.revoke(caller.actor, (await byId(params.id)).id);
        return { status: 204 };
      },
    }),
  ];
}
