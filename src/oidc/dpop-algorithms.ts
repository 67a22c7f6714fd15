// A leaf module: the CLI prints these without loading oidc-provider (which warns on Node 20 at import).
/** Proof algorithms accepted: the FAPI 2.0 set, which RFC 9449 §5.1's asymmetric-only rule also allows. */
export const dpopSigningAlgValues = ['ES256', 'PS256', 'EdDSA'];
