import { createAccountService } from './accounts/accounts.js';
import { createArtifactStore } from './artifacts/store.js';
import { createClientService } from './clients/clients.js';
import type { Config } from './config.js';
import type { Db } from './db/index.js';
import { createKeystore } from './keys/keystore.js';
import { createResourceService } from './resources/resources.js';
import type { SecretBox } from './security/secret-box.js';

/** The service layer, built once per process and shared by the server and the CLI. */
export function createServices(db: Db, config: Pick<Config, 'argon2'>, secrets: SecretBox) {
  return {
    accounts: createAccountService(db, config.argon2),
    clients: createClientService(db, secrets),
    resources: createResourceService(db),
    keystore: createKeystore(db, secrets),
    artifacts: createArtifactStore(db),
  };
}

export type Services = ReturnType<typeof createServices>;
