import argon2 from 'argon2';

import type { Config } from '../config/index.js';

export type Argon2Params = Config['argon2'];

/**
 * argon2id with OWASP's parameters (Password Storage Cheat Sheet). The
 * default, m=7 MiB, t=5, p=1, is one of the five settings OWASP lists as
 * equal in defence; of those it costs the least here (15 ms of CPU per check
 * against 20 ms for m=19 MiB, t=2, and 52 ms for m=46 MiB, t=1) and holds the
 * least memory per concurrent sign-in. Hashes carry their own parameters, so
 * changing them upgrades each account at its next successful login
 * (needsRehash).
 */
export function createPasswordHasher(params: Argon2Params) {
  const options = {
    type: argon2.argon2id,
    memoryCost: params.memoryKib,
    timeCost: params.iterations,
    parallelism: params.parallelism,
  } as const;
  // Verified against when the login names no account, so an unknown user costs
  // the same time as a wrong password and the response time reveals nothing.
  let decoy: Promise<string> | undefined;

  return {
    hash: (password: string) => argon2.hash(password, options),
    async verify(hash: string, password: string): Promise<boolean> {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    },
    async burnTime(password: string): Promise<void> {
      decoy ??= argon2.hash('gatehouse-decoy-password', options);
      await argon2.verify(await decoy, password).catch(() => false);
    },
    needsRehash: (hash: string) => argon2.needsRehash(hash, options),
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
