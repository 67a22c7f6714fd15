/**
 * oidc-provider's storage adapter. Clients come from the clients service
 * (metadata in their own table, secrets encrypted); every other model is a
 * protocol artifact in oidc_models, stored under a hash of its identifier.
 */
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

import type { ArtifactPayload, ArtifactStore } from '../artifacts/store.js';
import type { ClientService } from '../clients/clients.js';

/** Models whose rows are tied to a grant and die with it (oidc-provider's grantable set). */
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

class ClientAdapter implements Adapter {
  constructor(private readonly clients: ClientService) {}
  async find(id: string) {
    return (await this.clients.metadataForProvider(id)) as AdapterPayload | undefined;
  }
  // Dynamic registration (RFC 7591) lands with its own issue; until then the
  // library has no route that writes clients.
  async upsert(): Promise<void> {
    throw new Error('client writes through the provider are not enabled');
  }
  async destroy(id: string) {
    await this.clients.remove(id).catch(() => undefined);
  }
  async consume() {}
  async findByUid() {
    return undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async revokeByGrantId() {}
}

class ArtifactAdapter implements Adapter {
  constructor(private readonly model: string, private readonly store: ArtifactStore) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    await this.store.upsert(this.model, id, payload as ArtifactPayload, Number.isFinite(expiresIn) ? expiresIn : undefined);
  }

  async find(id: string) {
    return (await this.store.find(this.model, id)) as AdapterPayload | undefined;
  }

  async findByUid(uid: string) {
    return (await this.store.findSessionByUid(uid)) as AdapterPayload | undefined;
  }

  async findByUserCode(userCode: string) {
    return (await this.store.findByUserCode(this.model, userCode)) as AdapterPayload | undefined;
  }

  /**
   * The library checks `consumed` and then consumes, two steps another request
   * can interleave with. Consuming with one conditional UPDATE makes the second
   * of two racing exchanges lose: it is a replay, so the grant dies with it.
   */
  async consume(id: string) {
    const result = await this.store.consume(this.model, id);
    if (result.consumed) return;
    if (result.grantId) await this.store.revokeGrant(result.grantId);
    throw new errors.InvalidGrant('grant request is invalid');
  }

  async destroy(id: string) {
    await this.store.destroy(this.model, id);
  }

  async revokeByGrantId(grantId: string) {
    if (grantable.has(this.model)) await this.store.revokeByGrantId(this.model, grantId);
  }
}

export function createAdapterFactory(deps: { artifacts: ArtifactStore; clients: ClientService }) {
  const clientAdapter = new ClientAdapter(deps.clients);
  const adapters = new Map<string, Adapter>();
  return (model: string): Adapter => {
    if (model === 'Client') return clientAdapter;
    let adapter = adapters.get(model);
    if (!adapter) {
      adapter = new ArtifactAdapter(model, deps.artifacts);
      adapters.set(model, adapter);
    }
    return adapter;
  };
}
