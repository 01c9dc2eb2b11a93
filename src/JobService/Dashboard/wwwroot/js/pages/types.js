// Types: per type its counts by status, running against its per-worker limit, the last hour's
// completions (a sparkline), mean run time, error rate, tokens and cost; pause a type (optionally
// for a while) and resume it. Pausing takes the admin scope: a type is every tenant's.
import { api, tenantParams } from '../api.js';
import { h, number, usd, duration, time, toast } from '../dom.js';
import { every } from '../live.js';
import { sparkline } from '../charts.js';

export function render(main, { can }) {
  const body = h('tbody');
  const lengths = new Map(); // type → the pause length chosen, kept across the table's redraws
  main.append(h('h1', {}, 'Types'), h('div', { class: 'scroll' }, h('table', { class: 'types' }, h('thead', {}, h('tr', {},
    ['Type', 'Pending', 'Running', 'Done', 'Failed', 'Cancelled', 'Last hour', 'Mean run', 'Errors', 'Tokens', 'Cost', 'Oldest wait', 'Claims', '']
      .map(t => h('th', {}, t)))), body)));

  async function draw() {
    const [types, stats] = await Promise.all([api('/job-types'), api('/jobs/stats', { params: { window: '1h', bucket: '5m', ...tenantParams() } })]);
    body.replaceChildren(...types.map(t => row(t, stats.by_type[t.type], stats.timeline.by_type[t.type])));
    main.dataset.ready = 'true';
  }

  function row(type, counts, window) {
    const by = counts?.by_status ?? {};
    const paused = type.paused;
    return h('tr', { dataset: { type: type.type, paused: paused ? 'true' : 'false' } },
      h('td', {}, h('a', { href: `#/jobs?type=${encodeURIComponent(type.type)}`, title: type.description ?? '' }, type.type)),
      h('td', {}, number(by.pending)),
      h('td', { title: type.concurrency ? `At most ${type.concurrency} at once on each worker` : 'No limit of its own: the workers\' slots' },
        number(by.running), h('span', { class: 'muted' }, type.concurrency ? `/${type.concurrency}` : '')),
      h('td', {}, number(by.completed)), h('td', {}, number(by.failed)), h('td', {}, number(by.cancelled)),
      h('td', {}, sparkline(window?.completed_per_bucket ?? [], `${type.type}: completed per 5 minutes`)),
      h('td', {}, duration(window?.mean_run_ms)),
      h('td', {}, window?.error_rate == null ? '—' : `${(window.error_rate * 100).toFixed(1)} %`),
      h('td', {}, number(window?.total_tokens)), h('td', {}, usd(window?.cost_usd)),
      h('td', {}, window?.oldest_pending_seconds == null ? '—' : duration(window.oldest_pending_seconds * 1000)),
      h('td', { class: 'claims' }, paused ? [h('span', { class: 'badge cancelled' }, 'paused'), paused.until ? [' until ', time(paused.until)] : ''] : 'claimed'),
      h('td', {}, can('admin') ? pauseControls(type) : ''));
  }

  function pauseControls(type) {
    if (type.paused) return h('button', { type: 'button', dataset: { action: 'resume' }, onclick: () => act(type.type, 'resume') }, 'Resume');
    // For how long: the pause ends by itself then (the API takes any time: {"until": …}).
    const length = h('select', { 'aria-label': `Pause ${type.type} for`, onchange: () => lengths.set(type.type, length.value) },
      [['', 'until resumed'], [15, 'for 15 min'], [60, 'for 1 hour'], [240, 'for 4 hours'], [1440, 'for a day']].map(([minutes, label]) => h('option', { value: minutes }, label)));
    length.value = lengths.get(type.type) ?? '';
    const body = () => (length.value ? { until: new Date(Date.now() + Number(length.value) * 60_000).toISOString() } : {});
    return h('span', { class: 'pause' }, length,
      h('button', { type: 'button', class: 'danger', dataset: { action: 'pause' }, onclick: () => act(type.type, 'pause', body()) }, 'Pause'));
  }

  async function act(type, action, body) {
    try { await api(`/job-types/${encodeURIComponent(type)}/${action}`, { method: 'POST', body }); toast(`${type}: ${action}d`); }
    catch (e) { toast(e.message, 'error'); }
    await draw();
  }

  return every(draw);
}
