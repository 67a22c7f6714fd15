/**
 * Authentication Context Class References Gatehouse asserts in ID tokens
 * (OIDC Core §2 `acr`). `amr` values follow RFC 8176 (`pwd`, `otp`, `mfa`).
 */
export const acr = {
  password: 'urn:gatehouse:acr:pwd',
  multiFactor: 'urn:gatehouse:acr:mfa',
} as const;

export const acrValues = [acr.password, acr.multiFactor] as const;
