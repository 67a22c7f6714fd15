/**
 * Secret rotation with overlap at the token endpoint. oidc-provider compares
 * a presented secret with the one client secret in the metadata
 * (node_modules/oidc-provider/lib/models/client.js `compareClientSecret`,
 * called from lib/shared/client_auth.js for client_secret_basic/_post); each
 * Provider has its own Client class, so this wraps that method on the
 * provider being built. Only when the current secret did not match are the
 * previous secrets still in their overlap asked (src/clients/secret-rotation.ts):
 * the common path costs nothing more. Re-check on a library upgrade.
 */
import type Provider from 'oidc-provider';

import type { ClientSecretService } from '../clients/secret-rotation.js';

interface ClientPrototype {
  clientId: string;
  compareClientSecret(actual: string): boolean | Promise<boolean>;
}

export function acceptPreviousSecrets(provider: Provider, secrets: Pick<ClientSecretService, 'matchesPrevious'>): void {
  const prototype = (provider.Client as unknown as { prototype: ClientPrototype }).prototype;
  const current = prototype.compareClientSecret;
  prototype.compareClientSecret = async function compareClientSecret(this: ClientPrototype, actual: string): Promise<boolean> {
    if (await current.call(this, actual)) return true;
    return typeof actual === 'string' && actual.length > 0 && secrets.matchesPrevious(this.clientId, actual);
  };
}
