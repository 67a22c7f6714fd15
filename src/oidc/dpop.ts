/**
 * DPoP (RFC 9449) through oidc-provider's `features.dPoP`, made whole for a
 * cluster:
 *   - server-provided nonces (§8) from a key derived from the master secret:
 *     the library computes them from `nonceSecret` and the time step
 *     (lib/helpers/challenge.js, HKDF over a 60 s step, five steps accepted),
 *     so every node that shares the master secret issues and accepts the same
 *     nonces, with no shared state;
 *   - one-time use of proof `jti`s (§11.1) checked in PostgreSQL, not per node
 *     (`installSharedReplayDetection`);
 *   - "public clients must use DPoP" as a policy applied to client metadata.
 * The library validates the proof itself (lib/helpers/validate_dpop.js:
 * signature with the embedded JWK, typ, alg, htm, htu, iat window, ath, nonce)
 * and binds tokens (`cnf.jkt`, and refresh tokens of public clients,
 * lib/helpers/set_rt_bindings.js).
 */
import { decodeJwt } from 'jose';
import Provider, { errors } from 'oidc-provider';

import type { Audit } from '../audit/events.js';
import type { Config } from '../config/index.js';
import type { ReplayService } from '../replay/replay.js';
import { dpopSigningAlgValues } from './dpop-algorithms.js';

export { dpopSigningAlgValues };


export function dpopFeature(settings: Config['dpop'], nonceSecret: Buffer) {
  return {
    enabled: true,
    nonceSecret,
    requireNonce: () => settings.requireNonce,
    allowReplay: false,
  };
}

/**
 * The library checks a proof's `jti` with `ReplayDetection.unique(iss, jti,
 * exp)`, which reads and then writes through the adapter
 * (lib/models/replay_detection.js, oidc-provider 9.13.3): two nodes receiving
 * the same proof at once could both read "unseen". Replacing `unique` with one
 * conditional INSERT in the shared table makes the check atomic across nodes.
 * The same method guards `private_key_jwt`/`client_secret_jwt` assertion `jti`s
 * (lib/shared/jwt_client_auth.js), which gain the same guarantee.
 *
 * A replayed DPoP proof is an invalid proof (RFC 9449 §4.3 step 11, §5 and
 * §7.1: `invalid_dpop_proof`); the library would answer `invalid_grant`, or
 * `invalid_token` at userinfo, so a replay of the request's own proof is
 * refused here with the RFC's error. A replayed client assertion still gets
 * the library's `invalid_client`. A replayed proof means someone holds a
 * proof (and likely the token) that was not theirs: it is audited
 * (`dpop.proof_replayed`, invariant 5) at every endpoint, userinfo included.
 */
export function installSharedReplayDetection(provider: Provider, replay: ReplayService, audit: Audit): void {
  const model = (provider as unknown as { ReplayDetection: object }).ReplayDetection;
  Object.defineProperty(model, 'unique', {
    configurable: true,
    async value(iss: string, jti: string, exp: number): Promise<boolean> {
      const first = await replay.firstUse(iss, jti, exp - Math.floor(Date.now() / 1000));
      const ctx = Provider.ctx;
      if (!first && ctx && proofJtiOf(ctx.get('DPoP')) === jti) {
        audit.record({ type: 'dpop.proof_replayed', outcome: 'failure', actor: iss, clientId: iss, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined, detail: { endpoint: ctx.oidc?.route } });
        throw new errors.InvalidDpopProof('DPoP proof JWT replay detected');
      }
      return first;
    },
  });
}

/** The `jti` of the request's DPoP proof; the library has verified the proof by the time it checks replay. */
function proofJtiOf(proof: string | undefined): unknown {
  if (!proof) return undefined;
  try {
    return decodeJwt(proof).jti;
  } catch {
    return undefined;
  }
}

type Metadata = Record<string, unknown>;

/**
 * Applies "public clients must use DPoP" (GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP)
 * to a client's metadata as the library reads it: the library then refuses a
 * token request without a proof (lib/helpers/sender_constraints.js). A public
 * client bound by certificate already is sender-constrained; the library
 * allows only one mechanism to be required per client.
 */
export function requireDpopForPublicClients(metadata: Metadata): Metadata {
  if (metadata.token_endpoint_auth_method !== 'none' || metadata.tls_client_certificate_bound_access_tokens === true) return metadata;
  return { ...metadata, dpop_bound_access_tokens: true };
}
