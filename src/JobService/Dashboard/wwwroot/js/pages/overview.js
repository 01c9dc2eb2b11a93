// Overview: counts by status and type, and the last hour per minute (or the last day per hour):
// created, completed, failed, queue wait and run time (p50, p95), tokens and cost; the oldest
// waiting job per type. All from GET /jobs/stats, read again every Dashboard:StatsRefreshSeconds.
import { api, tenantParams } from '../api.js';
import { h, badge, number, usd, duration, statuses } from '../dom.js';
import { every } from '../live.js';
import { lineChart } from '../charts.js';

const ranges = { hour: { window: '1h', bucket: '1m', label: 'Last hour, per minute' }, day: { window: '24h', bucket: '1h', label: 'Last day, per hour' } };

export function render(main, { params }) {
  const range = ranges[params.get('range')] ?? ranges.hour;
  const cards = h('div', { class: 'cards' });
  const charts = h('div', { class: 'charts' });
  const types = h('tbody');
  main.append(h('h1', {}, 'Overview'),
    h('p', { class: 'ranges' }, Object.entries(ranges).map(([key, r]) =>
      h('a', { href: `#/overview?range=${key}`, class: `button ${r === range ? '' : 'secondary'}` }, r.label)), ' '),
    cards, charts,
    h('h2', {}, 'By type'),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Type'), statuses.map(st => h('th', {}, st)),
      h('th', {}, 'Tokens'), h('th', {}, 'Cost'), h('th', {}, 'Oldest waiting'))), types)));

  return every(async () => {
    const stats = await api('/jobs/stats', { params: { window: range.window, bucket: range.bucket, ...tenantParams() } });
    const t = stats.timeline;
    cards.replaceChildren(h('div', { class: 'card' }, 'total', h('b', {}, number(stats.total))),
      ...statuses.map(st => h('a', { class: `card ${st}`, href: `#/jobs?status=${st}`, dataset: { status: st } }, badge(st), h('b', {}, number(stats.by_status[st])))),
      h('div', { class: 'card' }, 'tokens', h('b', {}, number(stats.usage.total_tokens))), h('div', { class: 'card' }, 'cost', h('b', {}, usd(stats.usage.cost_usd))));
    const column = pick => t.buckets.map(pick);
    charts.replaceChildren(
      lineChart('Jobs', [{ name: 'created', cls: 'created', values: column(b => b.created) }, { name: 'completed', cls: 'completed', values: column(b => b.completed) },
        { name: 'failed', cls: 'failed', values: column(b => b.failed) }]),
      lineChart('Queue wait', [{ name: 'p50', cls: 'created', values: column(b => b.queue_wait_ms.p50) }, { name: 'p95', cls: 'failed', values: column(b => b.queue_wait_ms.p95) }], duration, 'last'),
      lineChart('Run time', [{ name: 'p50', cls: 'completed', values: column(b => b.run_ms.p50) }, { name: 'p95', cls: 'failed', values: column(b => b.run_ms.p95) }], duration, 'last'),
      lineChart('Tokens', [{ name: 'tokens', cls: 'completed', values: column(b => b.total_tokens) }]),
      lineChart('Cost', [{ name: 'USD', cls: 'created', values: column(b => b.cost_usd) }], usd));
    types.replaceChildren(...Object.entries(stats.by_type).map(([type, s]) => h('tr', { dataset: { type } },
      h('td', {}, h('a', { href: `#/jobs?type=${encodeURIComponent(type)}` }, type)),
      statuses.map(st => h('td', {}, number(s.by_status[st]))),
      h('td', {}, number(s.usage.total_tokens)), h('td', {}, usd(s.usage.cost_usd)),
      h('td', {}, t.by_type[type]?.oldest_pending_seconds == null ? '—' : duration(t.by_type[type].oldest_pending_seconds * 1000)))));
    main.dataset.ready = 'true';
  });
}
