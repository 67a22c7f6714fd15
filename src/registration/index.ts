/**
 * Dynamic client registration as the rest of Gatehouse sees it: named
 * policies, initial access tokens, and the registration service the
 * oidc-provider adapter writes registered clients through.
 */
import type { JSONWebKeySet } from 'jose';

import type { Audit } from '../audit/events.js';
import type { ClientService } from '../clients/clients.js';
import type { Config } from '../config/index.js';
import type { Db } from '../db/index.js';
import type { ResourceService } from '../resources/resources.js';
import { createIatService } from './initial-access-tokens.js';
import { createPolicyService } from './policies.js';
import { createRegistrationService } from './registrations.js';
import { createSoftwareStatementVerifier } from './software-statement.js';
import { createUnusedClientSweep } from './unused-clients.js';

export function createRegistrationServices(deps: { db: Db; clients: ClientService; resources: Pick<ResourceService, 'find'>; audit: Audit; settings: Config['registration'] }) {
  const registrationPolicies = createPolicyService(deps.db, deps.audit);
  const initialAccessTokens = createIatService(deps.db, registrationPolicies, deps.audit);
  const unusedClients = createUnusedClientSweep(deps.db, deps.clients, deps.audit);
  const registrations = createRegistrationService({
    db: deps.db,
    mode: deps.settings.mode,
    openPolicy: deps.settings.openPolicy ?? null,
    usage: unusedClients.usage,
    clients: deps.clients,
    policies: registrationPolicies,
    iats: initialAccessTokens,
    audit: deps.audit,
    // Config checked the shape (public EC/RSA/OKP keys); jose checks the rest when a statement arrives.
    verifySoftwareStatement: createSoftwareStatementVerifier(deps.settings.softwareStatementIssuers as unknown as Record<string, JSONWebKeySet>),
    async resourceScopes(audiences) {
      const found = await Promise.all(audiences.map(async (audience) => [audience, (await deps.resources.find(audience))?.scopes ?? []] as const));
      return new Map(found);
    },
  });
  return { registrationPolicies, initialAccessTokens, registrations, unusedClients };
}
