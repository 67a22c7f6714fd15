/**
 * Authentication Context Class References Gatehouse asserts in ID tokens
 * (OIDC Core §2 `acr`), weakest first. `amr` values follow RFC 8176 (`pwd`,
 * `otp`, `mfa`, and for passkeys `pop`, `hwk`/`swk`, `user`).
 */
export const acr = {
  password: 'urn:gatehouse:acr:pwd',
  /** Two factors, one of which may be phishable (a TOTP code). */
  multiFactor: 'urn:gatehouse:acr:mfa',
  /**
   * Phishing-resistant (NIST SP 800-63B §5.2.5): a passkey, whose assertion
   * is bound to Gatehouse's origin, with user verification, so also multi-factor.
   */
  phishingResistant: 'urn:gatehouse:acr:phr',
} as const;

export const acrValues = [acr.password, acr.multiFactor, acr.phishingResistant] as const;

export type AcrValue = (typeof acrValues)[number];

const strength: Record<AcrValue, number> = { [acr.password]: 0, [acr.multiFactor]: 1, [acr.phishingResistant]: 2 };

/** Whether a session's `acr` is at least `wanted`; an unknown or missing one meets nothing above a password. */
export function acrMeets(have: unknown, wanted: AcrValue): boolean {
  const level = typeof have === 'string' && have in strength ? strength[have as AcrValue] : 0;
  return level >= strength[wanted];
}
