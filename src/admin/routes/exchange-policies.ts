/** /admin/v1/exchange-policies: thin handlers over the token-exchange policy service (RFC 8693 §2.1, issue 18 item 2). */
import type { Services } from '../../services.js';
import { ExchangePolicyError, type ExchangePolicy } from '../../token-exchange/policies.js';
import { operation, type Operation } from '../operation.js';
import { page } from '../pagination.js';
import { AdminProblem, problemTypes } from '../problem.js';
import { exchangePolicyBody, exchangePolicyListQuery, exchangePolicySchemaOut } from '../credential-schemas.js';
import { clientParams, pageOf } from '../schemas.js';

const policyJson = (p: ExchangePolicy) => ({
  client_id: p.clientId,
  audiences: p.audiences,
  may_impersonate: p.mayImpersonate,
  max_lifetime_seconds: p.maxLifetimeSeconds,
  updated_at: p.updatedAt.toISOString(),
});

export function exchangePolicyOperations(services: Pick<Services, 'clients' | 'exchangePolicies'>): Operation[] {
  const { clients, exchangePolicies } = services;
  const clientOf = async (clientId: string) => {
    const client = await clients.find(clientId);
    if (!client) throw new AdminProblem(404, 'There is no client with this id.');
    return client.clientId;
  };
  const one = { 200: { description: 'The client\'s policy.', schema: exchangePolicySchemaOut } };
  return [
    operation({
      id: 'listExchangePolicies', method: 'GET', path: '/exchange-policies', tag: 'exchange-policies', scope: 'admin:clients.read', summary: 'List the clients allowed to use token exchange', query: exchangePolicyListQuery,
      responses: { 200: { description: 'A page of policies, by client id.', schema: pageOf(exchangePolicySchemaOut, 'ExchangePolicyPage') } },
      async handle({ query }) {
        return { status: 200, body: page(await exchangePolicies.list(), (p) => p.clientId, query.cursor, query.limit, policyJson) };
      },
    }),
    operation({
      id: 'getExchangePolicy', method: 'GET', path: '/exchange-policies/{clientId}', tag: 'exchange-policies', scope: 'admin:clients.read', summary: 'Read a client\'s token-exchange policy', params: clientParams, responses: one,
      async handle({ params }) {
        const policy = await exchangePolicies.find(await clientOf(params.clientId));
        if (!policy) throw new AdminProblem(404, 'This client has no token-exchange policy: it may not use token exchange.');
        return { status: 200, body: policyJson(policy) };
      },
    }),
    operation({
      id: 'putExchangePolicy', method: 'PUT', path: '/exchange-policies/{clientId}', tag: 'exchange-policies', scope: 'admin:clients.write',
      summary: 'Allow a client to exchange tokens, or replace its policy (in force on every node at once)', params: clientParams, body: exchangePolicyBody, audited: true,
      responses: { 200: { description: 'The policy replaced the previous one.', schema: exchangePolicySchemaOut }, 201: { description: 'The client had no policy; now it has this one.', schema: exchangePolicySchemaOut } },
      async handle({ params, body, caller }) {
        const clientId = await clientOf(params.clientId);
        const existed = (await exchangePolicies.find(clientId)) !== undefined;
        try {
          const policy = await exchangePolicies.set(caller.actor, clientId, {
            audiences: body.audiences,
            ...(body.may_impersonate !== undefined ? { mayImpersonate: body.may_impersonate } : {}),
            ...(body.max_lifetime_seconds !== undefined ? { maxLifetimeSeconds: body.max_lifetime_seconds } : {}),
          });
          return { status: existed ? 200 : 201, body: policyJson(policy) };
        } catch (error) {
          if (error instanceof ExchangePolicyError && error.kind === 'invalid') throw new AdminProblem(400, error.message, { type: problemTypes.validation, fields: ['body.audiences'] });
          throw error;
        }
      },
    }),
    operation({
      id: 'deleteExchangePolicy', method: 'DELETE', path: '/exchange-policies/{clientId}', tag: 'exchange-policies', scope: 'admin:clients.write', summary: 'Stop a client from using token exchange',
      params: clientParams, audited: true, responses: { 204: { description: 'Removed.' } },
      async handle({ params, caller }) {
        await exchangePolicies.remove(caller.actor, await clientOf(params.clientId));
        return { status: 204 };
      },
    }),
  ];
}
