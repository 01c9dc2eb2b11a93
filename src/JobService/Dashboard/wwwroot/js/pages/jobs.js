// The Jobs page: filtered, newest first, paged; every row follows GET /events (status, progress
// bar and message), so nothing is polled; the counts come from GET /jobs/stats on a timer.
import { api, query, session, tenantParams } from '../api.js';
import { h, time, badge, progressBar, setProgress, ticks, statuses, shortId, number } from '../dom.js';
import { live, stream, every, streamNotice } from '../live.js';
import { readFilter, filterParams, filterForm, admits, mayMatch } from './filters.js';
import { bulkBar } from './bulk.js';

const pageSize = 50;

export function render(main, { params, can }) {
  const filter = readFilter(params);
  const rows = new Map(); // job id → { job, tr, seq }
  const stops = [];
  let total = 0;
  let pending = []; // events that arrived before the list did

  const counts = h('div', { class: 'chips', 'aria-label': 'Counts by status' });
  const body = h('tbody');
  const totalText = h('span', { class: 'total' });
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const notice = h('p', { class: 'notice', hidden: true }, 'More jobs may match this filter now. ', h('button', { type: 'button', class: 'link', onclick: reload }, 'Show them'));
  const cutNotice = streamNotice(can('events:read'));
  const pager = h('div', { class: 'pager' });
  const bulk = can('jobs:write') ? bulkBar({ rows, filter, total: () => total, reload }) : null;
  const everyTenant = session.tenant === '*'; // an admin's list across tenants says whose each job is
  const table = h('table', { class: 'jobs' },
    h('thead', {}, h('tr', {},
      h('th', {}, bulk ? bulk.pageBox : ''), h('th', {}, 'Id'), h('th', {}, 'Type'), everyTenant ? h('th', {}, 'Tenant') : '', h('th', {}, 'Status'),
      h('th', { class: 'wide' }, 'Progress'), h('th', {}, 'Attempt'), h('th', {}, 'Created'))),
    body);
  const typeSlot = h('div');
  main.append(h('h1', {}, 'Jobs'), counts, typeSlot, bulk?.bar ?? '', notice, cutNotice, h('div', { class: 'scroll' }, table), h('div', { class: 'foot' }, totalText, pager));

  api('/job-types').then(types => typeSlot.replaceWith(filterForm(filter, types.map(t => t.type)))).catch(() => typeSlot.replaceWith(filterForm(filter, [])));
  stops.push(every(async () => {
    const stats = await api('/jobs/stats', { params: tenantParams() });
    counts.replaceChildren(...statuses.map(st => h('a', { class: `chip ${st}`, href: `#/jobs?status=${st}`, dataset: { status: st } },
      st, ' ', h('b', {}, number(stats.by_status[st])))));
  }));

  function rowOf(job) {
    const box = bulk ? bulk.rowBox(job.id) : '';
    const bar = progressBar(job.progress, job.status);
    const message = h('span', { class: 'message' }, job.message ?? '');
    const tr = h('tr', { dataset: { jobId: job.id, status: job.status, createdAt: job.created_at } },
      h('td', {}, box),
      h('td', {}, h('a', { href: `#/jobs/${job.id}`, title: job.id, class: 'mono' }, shortId(job.id))),
      h('td', { class: 'type', title: job.type }, job.type),
      everyTenant ? h('td', { class: 'tenant' }, job.tenant_id) : '',
      h('td', { class: 'status' }, badge(job.status)),
      h('td', { class: 'wide' }, bar, message),
      h('td', { class: 'attempt' }, `${job.attempt} / ${job.max_attempts}`),
      h('td', {}, time(job.created_at)));
    return { job, tr, bar, message };
  }

  /** Applies one event to its row: never an older one (by seq, or by time against the listed row). */
  function apply(kind, data) {
    const entry = rows.get(data.job_id);
    if (!entry) {
      if (kind === 'snapshot') return; // a pending or running job the page's list left to another page
      // A full page's oldest row is newer than a job moved on to the next page: a resumed stream's
      // replayed 'created' of one adds nothing (no set of every id seen, which grew without end).
      if (kind === 'created' && rows.size >= pageSize && ticks(data.at) <= ticks(body.lastElementChild?.dataset.createdAt)) return;
      if (kind === 'created' && admits(filter, data.job_type)) insert(data);
      // A job not listed may match now: new and of a status and type the filter takes (its other
      // fields are the server's to check), or changed into a status the filter asks for. Not a job
      // that merely moved while on another page, nor a new pending job in a view of failed ones.
      else if (kind === 'created' ? mayMatch(filter, 'pending', data.job_type)
        : kind !== 'progress' && filter.status.length > 0 && mayMatch(filter, data.status, data.job_type)) notice.hidden = false;
      return;
    }
    if (entry.seq !== undefined ? data.seq <= entry.seq : ticks(data.at ?? data.updated_at) < ticks(entry.job.updated_at)) return;
    entry.seq = data.seq;
    const job = Object.assign(entry.job, pick(data, ['status', 'progress', 'message', 'attempt', 'max_attempts']));
    setProgress(entry.bar, job.progress, job.status);
    entry.message.textContent = job.message ?? '';
    entry.tr.dataset.status = job.status;
    entry.tr.querySelector('td.status').replaceChildren(badge(job.status));
    entry.tr.querySelector('td.attempt').textContent = `${job.attempt} / ${job.max_attempts}`;
  }

  function insert(data) {
    const job = { id: data.job_id, type: data.job_type, tenant_id: data.tenant_id, status: 'pending', progress: 0, message: data.message, attempt: 0,
      max_attempts: data.max_attempts, created_at: data.at, updated_at: data.at };
    const entry = rowOf(job);
    entry.seq = data.seq;
    rows.set(job.id, entry);
    body.querySelector('tr.empty')?.remove();
    body.prepend(entry.tr);
    if (rows.size > pageSize) { // a page holds 50: the oldest row moves on to the next page
      const last = body.lastElementChild;
      rows.delete(last.dataset.jobId);
      last.remove();
    }
    total++;
    totalText.textContent = `${number(total)} matching`;
    pager.replaceChildren(...pagerLinks(params, filter.offset, rows.size, total));
  }

  // The stream first, then the list: events from the stream's start (its snapshot-list) on are kept
  // until the list is drawn, then applied, so that nothing falls between the two reads.
  let opened, lists = 0;
  const streamOpen = new Promise(resolve => { opened = resolve; });
  const handlers = {
    // A second opening list: the stream resumed too late to replay what it missed (the cursor out
    // of the replay window: a quiet view, a long cut), so a row may be stale. Its jobs are applied
    // and the page offers to show the list afresh (not reloaded under the operator's selection).
    'snapshot-list': list => {
      list.items.forEach(item => buffered('snapshot', item));
      if (++lists > 1) notice.hidden = false;
      else opened();
    },
  };
  for (const kind of ['created', 'status', 'progress', 'completed', 'failed', 'cancelled']) handlers[kind] = data => buffered(kind, data);
  function buffered(kind, data) { if (pending) pending.push([kind, data]); else apply(kind, data); }
  // A stream refused or cut is opened again from its last event (the list is drawn meanwhile);
  // a key without events:read shows the list as it is.
  const cut = on => { cutNotice.hidden = !on; if (on) opened(); };
  if (live.on && can('events:read')) stops.push(stream(`/events${query({ type: filter.type, ...tenantParams() })}`, handlers, { cut }));
  else opened();

  let left = false; // a list answering after the page was left must not mark the next page drawn (main is shared)
  streamOpen.then(() => api('/jobs', { params: { ...filterParams(filter), limit: pageSize, offset: filter.offset, ...tenantParams() } })).then(page => {
    if (left) return;
    total = page.total;
    for (const job of page.items) {
      const entry = rowOf(job);
      rows.set(job.id, entry);
      body.append(entry.tr);
    }
    if (page.items.length === 0) body.append(h('tr', { class: 'empty' }, h('td', { colspan: everyTenant ? 8 : 7, class: 'muted' }, total === 0 ? 'No jobs match.'
      : ['This page is past the list\'s end. ', h('a', { href: pageAt(params, 0) }, 'First page')])));
    totalText.textContent = `${number(total)} matching`;
    pager.replaceChildren(...pagerLinks(params, filter.offset, page.items.length, total));
    const early = pending;
    pending = null;
    for (const [kind, data] of early) apply(kind, data);
    main.dataset.ready = 'true';
  }).catch(error => { if (!left) main.append(h('p', { class: 'error', role: 'alert' }, error.message)); });

  return () => { left = true; stops.forEach(stop => stop()); };
}

function pick(data, names) {
  return Object.fromEntries(names.filter(n => data[n] !== undefined && data[n] !== null).map(n => [n, data[n]]));
}

const pageAt = (params, offset) => { const q = new URLSearchParams(params); q.set('offset', offset); return `#/jobs?${q}`; };

function pagerLinks(params, offset, shown, total) {
  const lastPage = Math.max(0, Math.floor((total - 1) / pageSize) * pageSize); // newer than a page past the end: the last one
  return [
    offset > 0 && total > 0 ? h('a', { href: pageAt(params, Math.max(0, Math.min(offset - pageSize, lastPage))), class: 'button secondary' }, '← Newer') : '',
    h('span', { class: 'muted' }, shown ? `${offset + 1}–${offset + shown} of ${number(total)}` : ''),
    offset + shown < total && shown > 0 ? h('a', { href: pageAt(params, offset + pageSize), class: 'button secondary' }, 'Older →') : '',
  ];
}
