// Workers: every instance from its heartbeat row (GET /workers): active, draining, or lost after
// two missed heartbeats; slots busy of total and the jobs it runs with their progress.
import { api } from '../api.js';
import { h, time, progressBar, shortId } from '../dom.js';
import { every } from '../live.js';

const stateClass = { active: 'completed', draining: 'cancelled', lost: 'failed' };

export function render(main) {
  const body = h('tbody');
  main.append(h('h1', {}, 'Workers'), h('div', { class: 'scroll' }, h('table', { class: 'workers' }, h('thead', {}, h('tr', {},
    ['Worker', 'Host', 'Version', 'Role', 'State', 'Started', 'Last seen', 'Slots', 'Jobs'].map(t => h('th', {}, t)))), body)));
  return every(async () => {
    const { items } = await api('/workers');
    body.replaceChildren(...items.map(w => h('tr', { dataset: { workerId: w.id, state: w.state } },
      h('td', { class: 'mono' }, w.id), h('td', {}, w.host), h('td', { class: 'mono' }, w.version.split('+')[0]), h('td', {}, w.role),
      h('td', {}, h('span', { class: `badge ${stateClass[w.state] ?? ''}` }, w.state)),
      h('td', {}, time(w.started_at)), h('td', {}, time(w.last_seen_at)),
      h('td', {}, `${w.busy} / ${w.slots}`),
      h('td', { class: 'wide' }, w.jobs.map(j => h('div', {}, h('a', { href: `#/jobs/${j.id}`, class: 'mono' }, shortId(j.id)), ' ', j.type, ' ',
        progressBar(j.progress, 'running'), h('span', { class: 'message' }, j.message ?? '')))))));
    if (items.length === 0) body.append(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No worker has written a heartbeat (API-only instances are not listed).')));
    main.dataset.ready = 'true';
  });
}
