/* global URLSearchParams */
// Pages to act: users, clients, audit events. Each action names its
// consequence before it runs; the admin API decides and audits.
import { html, useEffect, useState } from './preact-htm.js';
import { api, stepUpUrl } from './api.js';

function useList(load, deps) {
  const [state, setState] = useState({ items: [], error: '' });
  const reload = () => load().then((page) => setState({ items: page.items, next: page.next_cursor, error: '' }), (e) => setState({ items: [], error: e.message }));
  useEffect(() => { reload(); }, deps);
  return [state, reload];
}

/**
 * Every action asks first, naming its consequence, in the page (role
 * alertdialog) rather than window.confirm; the outcome or the admin API's
 * refusal is announced in a live region.
 */
function useConfirm() {
  const [pending, setPending] = useState(undefined);
  const [outcome, setOutcome] = useState(undefined);
  const ask = (message, run, done) => () => setPending({ message, run, done });
  const confirm = async () => {
    const { run, done } = pending;
    setPending(undefined);
    try {
      await run();
      setOutcome({ ok: true, text: 'Done.' });
      done();
    } catch (e) {
      setOutcome({ ok: false, stepUp: e.problem?.stepUp === true, text: e.status === 401 ? e.message : `Refused: ${e.message}` });
    }
  };
  const node = html`${pending && html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-text" aria-modal="false">
      <p id="confirm-text">${pending.message}</p>
      <button type="button" onClick=${confirm}>Confirm</button> <button type="button" onClick=${() => setPending(undefined)}>Cancel</button></div>`}
    <p class=${outcome?.ok === false ? 'error' : 'outcome'} role="status" data-testid="outcome">${outcome?.text ?? ''}${outcome?.stepUp && html` <a href=${stepUpUrl()}>Sign in again</a>`}</p>`;
  return [node, ask];
}

export function Users() {
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [dialog, act] = useConfirm();
  const [list, reload] = useList(() => api('GET', `/users?limit=50${query ? `&q=${encodeURIComponent(query)}` : ''}`), [query]);
  return html`<section aria-labelledby="users-title">
    <h1 id="users-title">Users</h1>
    ${dialog}
    <form role="search" onSubmit=${(e) => { e.preventDefault(); setQuery(q); }}>
      <label for="user-search">Username or email</label>
      <input id="user-search" type="search" value=${q} onInput=${(e) => setQ(e.target.value)} />
      <button type="submit">Search</button>
    </form>
    ${list.error && html`<p class="error" role="alert">${list.error}</p>`}
    <table><thead><tr><th scope="col">Username</th><th scope="col">Email</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
      <tbody>${list.items.map((u) => html`<tr data-user=${u.username}>
        <td>${u.username}${u.admin ? ' (admin)' : ''}</td><td>${u.email ?? ''}</td><td>${u.disabled ? 'disabled' : 'active'}</td>
        <td class="actions">
          ${u.disabled
            ? html`<button type="button" onClick=${act(`Enable ${u.username}? They can sign in again.`, () => api('POST', `/users/${u.id}/enable`), reload)}>Enable</button>`
            : html`<button type="button" onClick=${act(`Disable ${u.username}? Every session, grant and token of theirs ends now.`, () => api('POST', `/users/${u.id}/disable`), reload)}>Disable</button>`}
          <button type="button" onClick=${act(`Unlock ${u.username}? Failed sign-in counts are cleared.`, () => api('POST', `/users/${u.id}/unlock`), reload)}>Unlock</button>
          <button type="button" onClick=${act(`Reset the second factor of ${u.username}? They must enrol a new one, and are signed out everywhere.`, () => api('DELETE', `/users/${u.id}/second-factor`), reload)}>Reset second factor</button>
        </td></tr>`)}</tbody>
    </table>
  </section>`;
}

export function Clients() {
  const [shown, setShown] = useState(undefined);
  const [dialog, act] = useConfirm();
  const [list, reload] = useList(() => api('GET', '/clients?limit=200'), []);
  const rotate = (c) => act(`Rotate the secret of ${c.name}? The current secret keeps working for 24 hours, then only the new one does.`, async () => {
    const r = await api('POST', `/clients/${encodeURIComponent(c.client_id)}/secrets`, {});
    setShown({ clientId: c.client_id, secret: r.client_secret });
  }, reload);
  return html`<section aria-labelledby="clients-title">
    <h1 id="clients-title">Clients</h1>
    ${dialog}
    ${shown && html`<div class="notice" role="status"><p>New secret of <code>${shown.clientId}</code>, shown only now:</p><p><output data-testid="secret"><code>${shown.secret}</code></output></p>
      <button type="button" onClick=${() => setShown(undefined)}>I have stored it</button></div>`}
    ${list.error && html`<p class="error" role="alert">${list.error}</p>`}
    <table><thead><tr><th scope="col">Name</th><th scope="col">Client id</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
      <tbody>${list.items.map((c) => html`<tr>
        <td>${c.name}</td><td><code>${c.client_id}</code></td><td>${c.type}</td><td>${c.disabled ? 'disabled' : 'active'}</td>
        <td class="actions">
          ${c.disabled
            ? html`<button type="button" onClick=${act(`Enable ${c.name}?`, () => api('POST', `/clients/${encodeURIComponent(c.client_id)}/enable`), reload)}>Enable</button>`
            : html`<button type="button" onClick=${act(`Disable ${c.name}? It gets no more tokens and its grants and tokens end now.`, () => api('POST', `/clients/${encodeURIComponent(c.client_id)}/disable`), reload)}>Disable</button>`}
          ${c.type !== 'public' && html`<button type="button" onClick=${rotate(c)}>Rotate secret</button>`}
        </td></tr>`)}</tbody>
    </table>
  </section>`;
}

export function Audit() {
  const [filter, setFilter] = useState({ type: '', actor: '' });
  const [applied, setApplied] = useState({ type: '', actor: '' });
  const [cursor, setCursor] = useState(undefined);
  const params = () => {
    const p = new URLSearchParams({ limit: '50' });
    if (applied.type) p.set('type', applied.type);
    if (applied.actor) p.set('actor', applied.actor);
    if (cursor) p.set('cursor', cursor);
    return p.toString();
  };
  const [list] = useList(() => api('GET', `/audit/events?${params()}`), [applied, cursor]);
  return html`<section aria-labelledby="audit-title">
    <h1 id="audit-title">Audit events</h1>
    <form onSubmit=${(e) => { e.preventDefault(); setCursor(undefined); setApplied({ ...filter }); }}>
      <label for="audit-type">Type (or prefix such as <code>login.</code>)</label>
      <input id="audit-type" value=${filter.type} onInput=${(e) => setFilter({ ...filter, type: e.target.value })} />
      <label for="audit-actor">Actor or subject</label>
      <input id="audit-actor" value=${filter.actor} onInput=${(e) => setFilter({ ...filter, actor: e.target.value })} />
      <button type="submit">Filter</button>
    </form>
    ${list.error && html`<p class="error" role="alert">${list.error}</p>`}
    <table><thead><tr><th scope="col">When</th><th scope="col">Type</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">Subject</th><th scope="col">Client</th></tr></thead>
      <tbody>${list.items.map((e) => html`<tr><td>${new Date(e.occurred_at).toLocaleString()}</td><td>${e.type}</td><td>${e.outcome ?? ''}</td><td>${e.actor ?? ''}</td><td>${e.subject ?? ''}</td><td>${e.client_id ?? ''}</td></tr>`)}</tbody>
    </table>
    ${list.next && html`<button type="button" onClick=${() => setCursor(list.next)}>Older events</button>`}
  </section>`;
}
