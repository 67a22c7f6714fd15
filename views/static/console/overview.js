// The overview: the roll-ups as uPlot charts, the signing keys' timeline,
// the audit chain's status with "verify now", and the live session count.
import { html, useEffect, useRef, useState } from './preact-htm.js';
import uPlot from './uplot.js';
import { api } from './api.js';

const palette = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0550ae', '#57606a'];

function Chart({ title, buckets, series }) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current) return undefined;
    const data = [buckets.map((b) => Date.parse(b) / 1000), ...series.map((s) => s.counts)];
    const plot = new uPlot({
      width: Math.max(280, box.current.clientWidth || 560),
      height: 200,
      series: [{}, ...series.map((s, i) => ({ label: s.name, stroke: palette[i % palette.length], width: 2 }))],
      axes: [{}, { size: 50 }],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    }, data, box.current);
    return () => plot.destroy();
  }, [buckets, series]);
  return html`<figure class="chart"><figcaption>${title}</figcaption>
    ${series.length === 0 ? html`<p class="empty">Nothing in this range.</p>` : html`<div ref=${box}></div>`}</figure>`;
}

/** Sums the series of one metric by a key (grant type, client, label). */
function groupBy(stats, metric, keyOf) {
  const groups = new Map();
  for (const s of stats.series.filter((x) => x.metric === metric)) {
    const name = keyOf(s) || metric;
    const counts = groups.get(name) ?? stats.buckets.map(() => 0);
    s.counts.forEach((n, i) => { counts[i] += n; });
    groups.set(name, counts);
  }
  return [...groups].map(([name, counts]) => ({ name, counts }));
}

function total(stats, metric) {
  const counts = stats.buckets.map((_, i) => stats.series.filter((s) => s.metric === metric).reduce((a, s) => a + s.counts[i], 0));
  return { name: metric.replaceAll('_', ' '), counts };
}

const figures = [
  ['tokens_issued', 'Tokens issued'],
  ['sign_ins_succeeded', 'Sign-ins succeeded'],
  ['sign_ins_failed', 'Sign-ins failed'],
  ['lockouts', 'Lockouts'],
  ['rate_limited', 'Rate-limited requests'],
  ['client_auth_failed', 'Invalid client authentications'],
  ['alerts_raised', 'Alerts raised'],
];

const date = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

export function Overview() {
  const [range, setRange] = useState('1h');
  const [stats, setStats] = useState(undefined);
  const [keys, setKeys] = useState([]);
  const [chain, setChain] = useState(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    api('GET', `/stats?range=${range}`).then(setStats, (e) => setError(e.message));
  }, [range]);
  useEffect(() => {
    api('GET', '/keys').then((k) => setKeys(k.items), (e) => setError(e.message));
  }, []);

  const verify = async () => {
    setChain({ checking: true });
    try {
      setChain(await api('POST', '/audit/verify'));
    } catch (e) {
      setChain({ failed: e.message });
    }
  };

  return html`<section aria-labelledby="overview-title">
    <h1 id="overview-title">Overview</h1>
    <div class="ranges" role="group" aria-label="Time range">
      ${['1h', '24h', '7d'].map((r) => html`<button type="button" aria-pressed=${r === range} onClick=${() => setRange(r)}>${r}</button>`)}
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${stats && html`
      <dl class="figures" data-testid="figures">
        ${figures.map(([metric, label]) => html`<div><dt>${label}</dt><dd data-metric=${metric}>${stats.totals[metric] ?? 0}</dd></div>`)}
        <div><dt>Active sessions</dt><dd data-metric="active_sessions">${stats.active_sessions}</dd></div>
      </dl>
      <div class="charts">
        <${Chart} title="Tokens issued by grant type" buckets=${stats.buckets} series=${groupBy(stats, 'tokens_issued', (s) => s.label)} />
        <${Chart} title="Tokens issued by client" buckets=${stats.buckets} series=${groupBy(stats, 'tokens_issued', (s) => s.client_id)} />
        <${Chart} title="Sign-ins" buckets=${stats.buckets} series=${[total(stats, 'sign_ins_succeeded'), total(stats, 'sign_ins_failed')]} />
        <${Chart} title="Refusals and alerts" buckets=${stats.buckets} series=${['lockouts', 'rate_limited', 'client_auth_failed', 'alerts_raised'].map((m) => total(stats, m))} />
      </div>`}
    <h2>Signing keys</h2>
    <table class="keys"><thead><tr><th scope="col">Key id</th><th scope="col">Algorithm</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Signs from</th><th scope="col">Superseded</th><th scope="col">Leaves the JWKS</th></tr></thead>
      <tbody>${keys.map((k) => html`<tr><td><code>${k.kid}</code></td><td>${k.alg}</td><td><span class=${`state ${k.state}`}>${k.state}</span></td><td>${date(k.created_at)}</td><td>${date(k.activate_at)}</td><td>${date(k.superseded_at)}</td><td>${date(k.unpublish_at)}</td></tr>`)}</tbody>
    </table>
    <h2>Audit chain</h2>
    <p data-testid="chain">${chain === undefined ? 'Not verified in this view yet.'
      : chain.checking ? 'Verifying…'
      : chain.failed ? `Could not verify: ${chain.failed}`
      : chain.ok ? `Intact: ${chain.rows} rows, head ${chain.head.seq}.`
      : `TAMPERED: ${chain.problems.map((p) => `row ${p.seq} ${p.kind}`).join(', ')}`}</p>
    <button type="button" onClick=${verify}>Verify now</button>
  </section>`;
}
