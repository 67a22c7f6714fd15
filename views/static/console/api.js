/* global window, document, fetch */
// Calls the admin API through the console's backend (/console/api → /admin/v1).
// Writes carry the session's CSRF token; a 401 means the console session ended
// (sign in again) or the admin API wants a fresh second factor (step-up).
const csrf = document.querySelector('meta[name="gatehouse-csrf"]')?.getAttribute('content') ?? '';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`/console/api${path}`, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : undefined;
  if (response.status === 401) {
    const stepUp = json?.type === 'urn:gatehouse:problem:insufficient-user-authentication' || /insufficient_user_authentication/.test(response.headers.get('www-authenticate') ?? '');
    if (!stepUp) window.location.assign('/console/login');
    else throw new ApiError(401, { detail: 'This action needs your password and second factor again: sign in again (Sign out, then sign in) and repeat it.', stepUp: true });
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

export async function signOut() {
  await fetch('/console/logout', { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' });
  window.location.assign('/console/signed-out');
}
