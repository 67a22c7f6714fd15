/**
 * A FAPI 2.0 relying party driven by oauth4webapi (a certified FAPI 2.0
 * client): PAR, PKCE S256, DPoP or mTLS, private_key_jwt or mTLS client
 * authentication, sign-in through Gatehouse's real pages.
 */
import { randomUUID } from 'node:crypto';

import { exportJWK, generateKeyPair, SignJWT, type GenerateKeyPairResult, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';

import { signInThroughPages, UserAgent } from '../../support/user-agent.js';

export const redirectUri = 'http://127.0.0.1:9/callback';

export async function signingKey(alg: 'ES256' | 'PS256' | 'RS256' = 'ES256'): Promise<{ keys: GenerateKeyPairResult; jwk: JWK }> {
  const keys = await generateKeyPair(alg, { extractable: true });
  return { keys, jwk: { ...(await exportJWK(keys.publicKey)), alg, use: 'sig' } };
}

export async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  return oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
}

/** Sends the request again once when the server asks for a DPoP nonce (oauth4webapi caches the nonce it was given). */
export async function retryingNonce<T>(send: () => Promise<Response>, process: (response: Response) => Promise<T>): Promise<T> {
  try {
    return await process(await send());
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    return process(await send());
  }
}

export interface FapiLogin {
  callback: URL;
  verifier: string;
  state: string;
}

/** PAR (with the DPoP handle when given), then the front channel with only client_id and request_uri, through the sign-in pages. */
export async function parLogin(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  auth: oauth.ClientAuth,
  user: { username: string; password: string },
  options: oauth.PushedAuthorizationRequestOptions = {},
): Promise<FapiLogin> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const params = {
    response_type: 'code', redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent', state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  };
  const par = await retryingNonce(
    () => oauth.pushedAuthorizationRequest(as, client, auth, params, { [oauth.allowInsecureRequests]: true, ...options }),
    (response) => oauth.processPushedAuthorizationResponse(as, client, response),
  );
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({ client_id: client.client_id, request_uri: par.request_uri }).toString();
  const callback = new URL(await signInThroughPages(new UserAgent(), as.issuer, url.href, user));
  return { callback, verifier, state };
}

/** A private_key_jwt assertion made by hand (RFC 7523 §3), for what a certified client would never send. */
export async function clientAssertion(clientId: string, audience: string, key: { keys: GenerateKeyPairResult; jwk: JWK }, alg: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(key.keys.privateKey);
}
