/* global window, document, fetch, location */
// Calls the admin API through the console's backend (/console/api → /admin/v1).
// Writes carry the session's CSRF token. A 401 means the console session ended
// (sign in again) or the admin API wants a fresh second factor (RFC 9470
// step-up): then the error says so and the page offers the step-up sign-in,
// which returns to the same page so the operator can repeat the action.
const csrf = document.querySelector('meta[name="gatehouse-csrf"]')?.getAttribute('content') ?? '';

export const strings = {
  stepUp: 'This action needs your password and second factor again, because your sign-in is older than the admin API allows for changes. Sign in again, then repeat it.',
  http: (status) => `HTTP ${status}`,
};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? strings.http(status));
    this.status = status;
    this.problem = problem;
  }
}

/** The step-up sign-in: max_age=0 and the second factor, back to this page. */
export const stepUpUrl = () => `/console/login?step_up=1&return=${encodeURIComponent(location.hash.slice(2) || 'overview')}`;

async function call(method, path, body, extraHeaders = {}) {
  const headers = { accept: 'application/json', ...extraHeaders };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`/console/api${path}`, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : undefined;
  if (response.status === 401) {
    const stepUp = json?.type === 'urn:gatehouse:problem:insufficient-user-authentication' || /insufficient_user_authentication/.test(response.headers.get('www-authenticate') ?? '');
    if (!stepUp) window.location.assign('/console/login');
    throw new ApiError(401, { detail: stepUp ? strings.stepUp : json?.detail, stepUp });
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return { body: json, etag: response.headers.get('etag') };
}

export async function api(method, path, body) {
  return (await call(method, path, body)).body;
}

/** A read with its ETag, and a write under If-Match (RFC 9110 §13.1.1). */
export const withEtag = (path) => call('GET', path);
export const ifMatch = (method, path, etag, body) => call(method, path, body, { 'if-match': etag }).then((r) => r.body);

export async function signOut() {
  await fetch('/console/logout', { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' });
  window.location.assign('/console/signed-out');
}
