// Selecting rows (or "all N matching") and acting on them: cancel, retry or delete through
// POST /jobs/bulk/{action}, after a confirmation that says how many of each status it will touch.
import { api, session, tenantParams } from '../api.js';
import { h, statuses, number, toast } from '../dom.js';
import { filterParams, bulkFilter } from './filters.js';

const actions = {
  cancel: { verb: 'Cancel', done: 'cancelled', from: ['pending', 'running'] },
  retry: { verb: 'Retry', done: 'retried', from: ['failed', 'cancelled'] },
  delete: { verb: 'Delete', done: 'deleted', from: ['completed', 'failed', 'cancelled'] },
};

export function bulkBar({ rows, filter, total, reload }) {
  const selected = new Set();
  let allMatching = false;
  const count = h('span', { class: 'selected' });
  const everyMatching = h('button', { type: 'button', class: 'link', hidden: true, onclick: () => { allMatching = true; refresh(); } });
  const result = h('p', { class: 'result', hidden: true, role: 'status' });
  const buttons = Object.entries(actions).map(([name, a]) =>
    h('button', { type: 'button', class: name === 'delete' ? 'danger' : '', dataset: { action: name }, disabled: true, onclick: () => confirmAndRun(name) }, a.verb));
  const pageBox = h('input', { type: 'checkbox', 'aria-label': 'Select every job on this page', onchange: () => {
    for (const id of rows.keys()) pageBox.checked ? selected.add(id) : selected.delete(id);
    for (const box of document.querySelectorAll('input.row-box')) box.checked = pageBox.checked;
    allMatching = false;
    refresh();
  } });
  const bar = h('div', { class: 'bulk' }, count, everyMatching, ...buttons, result);

  function refresh() {
    const n = allMatching ? total() : selected.size;
    count.textContent = n ? `${number(n)} selected` : 'Select jobs to act on them';
    count.dataset.count = n;
    everyMatching.hidden = allMatching || selected.size === 0 || selected.size < rows.size || total() <= rows.size;
    everyMatching.textContent = `Select all ${number(total())} matching`;
    for (const button of buttons) button.disabled = n === 0;
  }

  function rowBox(id) {
    return h('input', { type: 'checkbox', class: 'row-box', 'aria-label': `Select job ${id}`, onchange: event => {
      event.target.checked ? selected.add(id) : selected.delete(id);
      allMatching = false;
      refresh();
    } });
  }

  /** How many jobs of each status the action would meet: counted by the server for "all matching", from the rows otherwise. */
  async function byStatus() {
    if (!allMatching) {
      const counts = {};
      for (const id of selected) { const st = rows.get(id)?.job.status; if (st) counts[st] = (counts[st] ?? 0) + 1; }
      return counts;
    }
    const wanted = filter.status.length ? filter.status : statuses;
    const totals = await Promise.all(wanted.map(st =>
      api('/jobs', { params: { ...filterParams(filter), status: st, limit: 1, ...tenantParams() } }).then(p => [st, p.total])));
    return Object.fromEntries(totals.filter(([, n]) => n > 0));
  }

  async function confirmAndRun(name) {
    const action = actions[name];
    const counts = await byStatus();
    const matched = Object.values(counts).reduce((a, b) => a + b, 0);
    const affected = Object.entries(counts).filter(([st]) => action.from.includes(st)).reduce((a, [, n]) => a + n, 0);
    const lines = Object.entries(counts).map(([st, n]) => h('li', { dataset: { status: st, count: n } },
      `${number(n)} ${st}: `, action.from.includes(st) ? `will be ${action.done}` : 'skipped (not allowed in this status)'));
    const dialog = h('dialog', { class: 'confirm', dataset: { action: name, affected } },
      h('h2', {}, `${action.verb} ${number(matched)} job(s)?`),
      h('ul', {}, lines),
      h('p', {}, h('b', { class: 'will' }, `${number(affected)} will be ${action.done}.`)),
      h('form', { method: 'dialog' },
        h('button', { value: 'cancel', class: 'secondary' }, 'Keep them'),
        h('button', { value: 'go', class: name === 'delete' ? 'danger' : '', disabled: affected === 0 }, `${action.verb} ${number(affected)}`)));
    document.body.append(dialog);
    const listed = allMatching ? [...rows.keys()] : [...selected]; // the rows this confirmation was about (rows may arrive meanwhile)
    dialog.addEventListener('close', async () => {
      dialog.remove();
      if (dialog.returnValue !== 'go') return;
      const body = allMatching ? { filter: bulkFilter(filter, session.tenant), max: matched, confirmed: matched } : { ids: [...selected] };
      try {
        const answer = await api(`/jobs/bulk/${name}`, { method: 'POST', body });
        result.hidden = false;
        Object.assign(result.dataset, { matched: answer.matched, affected: answer.affected, skipped: answer.skipped.length });
        result.textContent = `${action.verb}: ${number(answer.affected)} ${action.done}, ${number(answer.skipped.length)} skipped, of ${number(answer.matched)} matched.`;
        if (name === 'delete') { // a delete has no event to show it: the rows it reached go (with "all matching", every row listed)
          const kept = new Set(answer.skipped.map(x => x.id));
          for (const id of listed) if (!kept.has(id)) { rows.get(id)?.tr.remove(); rows.delete(id); }
        }
        result.append(' ', h('button', { type: 'button', class: 'link', onclick: reload }, 'Refresh the list'));
        selected.clear();
        allMatching = false;
        for (const box of document.querySelectorAll('input.row-box')) box.checked = false;
        pageBox.checked = false;
        refresh();
      } catch (error) {
        toast(error.message, 'error');
        if (error.status === 409 && allMatching) confirmAndRun(name); // the matches changed: the new counts, to confirm again
      }
    });
    dialog.showModal();
  }

  refresh();
  return { bar, pageBox, rowBox };
}
