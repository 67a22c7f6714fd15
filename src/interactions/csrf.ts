import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Form tokens bound to one interaction. The interaction cookie is SameSite=Lax,
 * so a cross-site POST already arrives without it; the token is the second,
 * independent defence, and costs no storage.
 */
export function createCsrf(keys: readonly Buffer[]) {
  const mac = (key: Buffer, uid: string) => createHmac('sha256', key).update(`interaction:${uid}`).digest('base64url');
  return {
    /** Signed with the current key; the others (a previous master secret) still verify. */
    tokenFor: (uid: string) => mac(keys[0]!, uid),
    verify(uid: string, token: unknown): boolean {
      if (typeof token !== 'string') return false;
      const given = Buffer.from(token);
      let ok = false;
      for (const key of keys) {
        const expected = Buffer.from(mac(key, uid));
        if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true;
      }
      return ok;
    },
  };
}

export type Csrf = ReturnType<typeof createCsrf>;
