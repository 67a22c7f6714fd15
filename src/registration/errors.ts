/**
 * Why a registration or an update was refused, in the error codes of RFC 7591
 * §3.2.2 (plus RFC 6750's invalid_token for the initial access token). The
 * service layer throws these; src/oidc/registration.ts turns them into the
 * library's protocol errors, so services never depend on oidc-provider.
 */
export type RegistrationErrorCode =
  | 'invalid_client_metadata'
  | 'invalid_redirect_uri'
  | 'invalid_software_statement'
  | 'unapproved_software_statement'
  | 'invalid_token';

export class RegistrationError extends Error {
  override name = 'RegistrationError';
  constructor(readonly code: RegistrationErrorCode, readonly description: string) {
    super(`${code}: ${description}`);
  }
}

/** An operator's mistake in the CLI (unknown policy, token id, …); the message is the whole story. */
export class RegistrationAdminError extends Error {
  override name = 'RegistrationAdminError';
}
