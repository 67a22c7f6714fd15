import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Form tokens bound to one interaction. The interaction cookie is SameSite=Lax,
 * so a cross-site POST already arrives without it; the token is the second,
 * independent defence, and costs no storage.
 */
export function createCsrf(key: Buffer) {
  const tokenFor = (uid: string) => createHmac('sha256', key).update(`interaction:${uid}`).digest('base64url');
  return {
    tokenFor,
    verify(uid: string, token: unknown): boolean {
      if (typeof token !== 'string') return false;
      const expected = Buffer.from(tokenFor(uid));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

export type Csrf = ReturnType<typeof createCsrf>;
