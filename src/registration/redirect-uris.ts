/**
 * Which redirect URIs a registered client may have. The library already
 * refuses fragments and non-web schemes for web clients; these rules are
 * stricter and apply to every registered client whatever its application_type:
 *   - https, with the host on the policy's list when it has one;
 *   - http only on a loopback IP literal, for native apps (RFC 8252 §7.3;
 *     `localhost` is NOT RECOMMENDED by §8.3: it can resolve elsewhere);
 *   - private-use schemes only in reverse-domain form, for native apps
 *     (RFC 8252 §7.1), and then the domain must be an allowed host;
 *   - never a fragment (RFC 6749 §3.1.2), a wildcard, or userinfo.
 */

const loopbackAddress = /^(127(\.\d{1,3}){3}|\[::1\])$/;
const reverseDomainScheme = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/;

/** `*.example.com` allows every subdomain (not the apex); anything else is an exact host. */
export function hostAllowed(patterns: readonly string[], host: string): boolean {
  const name = host.toLowerCase();
  return patterns.some((pattern) => (pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) : name === pattern));
}

/** Why `value` is not an acceptable redirect URI under `rules`, or undefined when it is. */
/** The parts of a registration policy (src/registration/policy.ts) that judge redirect URIs. */
export interface RedirectRules {
  redirectHosts?: readonly string[] | undefined;
  nativeRedirects: boolean;
}

export function redirectUriProblem(rules: RedirectRules, value: string): string | undefined {
  if (value.includes('*')) return 'must not contain wildcards';
  if (value.includes('#')) return 'must not contain a fragment';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be absolute URIs';
  }
  if (url.username || url.password) return 'must not carry credentials';
  const hosts = rules.redirectHosts;

  if (url.protocol === 'https:') {
    if (hosts && !hostAllowed(hosts, url.hostname)) return `host ${url.hostname} is not allowed by the registration policy (allowed: ${hosts.join(', ')})`;
    return undefined;
  }
  if (url.protocol === 'http:') {
    if (url.hostname === 'localhost') return 'must use 127.0.0.1 or [::1] rather than localhost for loopback redirects (RFC 8252 §8.3)';
    if (!loopbackAddress.test(url.hostname)) return 'must use https; http is allowed only for loopback redirects of native apps (RFC 8252 §7.3)';
    if (!rules.nativeRedirects) return 'loopback redirects (native apps) are not allowed by the registration policy';
    return undefined;
  }
  if (!rules.nativeRedirects) return `the ${url.protocol} scheme is not allowed: the registration policy does not allow native-app redirects`;
  const scheme = url.protocol.slice(0, -1);
  if (!reverseDomainScheme.test(scheme)) return `private-use scheme ${scheme} must be a reverse domain name such as com.example.app (RFC 8252 §7.1)`;
  const domain = scheme.split('.').reverse().join('.');
  if (hosts && !hostAllowed(hosts, domain)) return `private-use scheme ${scheme} does not belong to an allowed host (allowed: ${hosts.join(', ')})`;
  return undefined;
}
