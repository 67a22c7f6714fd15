/* global window, document, location */
// The console's shell: navigation by location hash, one page at a time.
import { html, render, useEffect, useState } from './preact-htm.js';
import { signOut } from './api.js';
import { Overview } from './overview.js';
import { Audit, Clients, Users } from './pages.js';

const pages = { overview: ['Overview', Overview], users: ['Users', Users], clients: ['Clients', Clients], audit: ['Audit events', Audit] };
const current = () => (location.hash.slice(2) in pages ? location.hash.slice(2) : 'overview');

function Console() {
  const [page, setPage] = useState(current());
  useEffect(() => {
    const follow = () => setPage(current());
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  const Page = pages[page][1];
  return html`<header class="bar"><p class="brand">Gatehouse console</p>
      <nav aria-label="Console"><ul>${Object.entries(pages).map(([id, [label]]) => html`<li><a href=${`#/${id}`} aria-current=${id === page ? 'page' : undefined}>${label}</a></li>`)}</ul></nav>
      <button type="button" class="sign-out" onClick=${signOut}>Sign out</button></header>
    <main><${Page} /></main>`;
}

const root = document.getElementById('console');
// The server-rendered "Loading" line goes; Preact owns the container from here.
root.textContent = '';
render(html`<${Console} />`, root);
