/** Reading an upstream's claims through the operator's mapping, and what its `amr` says. */
import type { ClaimMapping } from './schemas.js';

export interface MappedIdentity {
  subject: string;
  email: string | undefined;
  /** Only a literal `true` (or the string "true" some providers send) counts. */
  emailVerified: boolean;
  name: string | undefined;
  /** Group names as the upstream gave them; RBAC (another issue) decides what they grant. */
  groups: string[];
}

export class ClaimMappingError extends Error {
  override name = 'ClaimMappingError';
}

const text = (value: unknown, max: number): string | undefined =>
  typeof value === 'string' && value.length > 0 && value.length <= max && value.isWellFormed() && !value.includes('\0') ? value : undefined;

export function mapClaims(claims: Record<string, unknown>, mapping: ClaimMapping): MappedIdentity {
  const rawSubject = claims[mapping.subject];
  // GitHub's user id is a number; its string form is the stable subject.
  const subject = typeof rawSubject === 'number' && Number.isSafeInteger(rawSubject) ? String(rawSubject) : text(rawSubject, 255);
  if (!subject) throw new ClaimMappingError(`the upstream's answer has no usable ${mapping.subject} claim`);
  const email = text(claims[mapping.email], 254);
  const verified = claims[mapping.emailVerified];
  const groups = mapping.groups ? claims[mapping.groups] : undefined;
  return {
    subject,
    email: email && /^[^\s@]+@[^\s@]+$/.test(email) ? email : undefined,
    emailVerified: verified === true || verified === 'true',
    name: text(claims[mapping.name], 200),
    groups: Array.isArray(groups) ? groups.map((g) => text(g, 200)).filter((g): g is string => g !== undefined).slice(0, 100) : [],
  };
}

/** RFC 8176 values that prove more than one factor, or a factor beyond a password. */
const strongMethods = new Set(['mfa', 'otp', 'hwk', 'swk', 'sc', 'fpt', 'face', 'iris', 'retina', 'vbm', 'pop']);

/** What `trust-upstream` accepts as a second factor done upstream. */
export function upstreamDidMfa(amr: readonly string[]): boolean {
  return amr.some((method) => strongMethods.has(method));
}

/** Usernames to try for a just-in-time account: readable first, then with a random suffix. */
export function usernameCandidates(upstreamName: string, identity: MappedIdentity): string[] {
  const base = (identity.email?.split('@')[0] ?? identity.subject).replace(/[^A-Za-z0-9._-]/g, '').replace(/^[._-]+/, '').slice(0, 40);
  const stem = `${upstreamName}.${base || 'user'}`.slice(0, 56);
  const suffix = () => Math.random().toString(36).slice(2, 8);
  return [stem, `${stem}-${suffix()}`, `${stem}-${suffix()}`, `${stem}-${suffix()}`];
}
