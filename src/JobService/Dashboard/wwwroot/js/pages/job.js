// One job: its state, a timeline per attempt, payload, result, errors, usage, the live log and
// the model's text as it grows. Everything after the first read comes from GET /jobs/{id}/events,
// replayed from its first event (last_event_id=0) and then live.
import { api } from '../api.js';
import { h, time, badge, progressBar, setProgress, ticks, duration, usd, number, toast } from '../dom.js';
import { live, stream, streamNotice } from '../live.js';
import { cloneDialog } from './clone.js';

const terminal = ['completed', 'failed', 'cancelled'];

export function render(main, { id, can }) {
  const stops = [];
  let job = null;
  // The timeline's rows, oldest first: created, each claim (a handed-back attempt is claimed again under
  // its number), and 'retried' where POST /jobs/{id}/retry started the attempts again at 1.
  const runs = []; // { attempt, label?, worker, started, ended, outcome, error }
  let open = null; // the row of the attempt claimed and not yet ended
  const logs = [];
  const usage = [];
  let output = { attempt: 0, text: '' };
  let ended = null;

  const head = h('div', { class: 'job-head' });
  const actions = h('div', { class: 'actions' });
  const timeline = h('tbody', { id: 'timeline' });
  const payload = h('pre', { class: 'json', id: 'payload' });
  const result = h('pre', { class: 'json', id: 'result' });
  const error = h('p', { class: 'error', id: 'error', hidden: true });
  const usageBody = h('tbody');
  const outputBox = h('pre', { class: 'output', id: 'output' });
  const logList = h('ol', { class: 'log', id: 'log' });
  const level = h('select', { 'aria-label': 'Log level', onchange: drawLog }, ['all', 'info', 'warning', 'error'].map(l => h('option', { value: l }, l)));
  const search = h('input', { type: 'search', placeholder: 'Search the log', 'aria-label': 'Search the log', oninput: drawLog });
  const cutNotice = streamNotice(can('events:read'));

  main.append(h('p', {}, h('a', { href: '#/jobs' }, '← Jobs')), head, cutNotice, actions, error,
    h('section', {}, h('h2', {}, 'Timeline'), h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {},
      ['Attempt', 'Claimed by', 'Started', 'Ended', 'Duration', 'Outcome'].map(t => h('th', {}, t)))), timeline))),
    h('section', { class: 'two' },
      h('details', { open: true }, h('summary', {}, 'Payload ', h('button', { type: 'button', class: 'link', onclick: () => copy(payload.textContent) }, 'copy')), payload),
      h('div', {}, h('h2', {}, 'Result'), result)),
    h('section', { id: 'output-section', hidden: true }, h('h2', {}, 'Model output'), outputBox),
    h('section', {}, h('h2', {}, 'Usage'), h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {},
      ['Attempt', 'Step', 'Model', 'Prompt', 'Completion', 'Cost', 'Duration', 'Finish'].map(t => h('th', {}, t)))), usageBody))),
    h('section', {}, h('h2', {}, 'Log'), h('div', { class: 'log-tools' }, level, search), logList));

  function drawHead() {
    const bar = progressBar(job.progress, job.status);
    head.replaceChildren(
      h('h1', {}, 'Job ', h('span', { class: 'mono' }, job.id), ' ', badge(job.status)),
      h('div', { class: 'summary' }, bar, h('span', { class: 'message', id: 'message' }, job.message ?? ''),
        h('dl', {},
          h('dt', {}, 'Type'), h('dd', {}, job.type),
          h('dt', {}, 'Tenant'), h('dd', { id: 'job-tenant' }, job.tenant_id),
          h('dt', {}, 'Attempt'), h('dd', { id: 'attempt' }, `${job.attempt} of ${job.max_attempts}`),
          h('dt', {}, 'Priority'), h('dd', {}, job.priority),
          h('dt', {}, 'Created'), h('dd', {}, time(job.created_at)),
          h('dt', {}, 'Run at'), h('dd', {}, time(job.run_at)),
          h('dt', {}, 'Started'), h('dd', { id: 'started' }, time(job.started_at)),
          h('dt', {}, 'Completed'), h('dd', {}, time(job.completed_at)),
          job.cancel_requested && !terminal.includes(job.status) ? [h('dt', {}, 'Cancel'), h('dd', {}, 'requested: the handler is being stopped')] : '',
          h('dt', {}, 'Tokens'), h('dd', {}, job.usage ? `${number(job.usage.total_tokens)} (${usd(job.usage.cost_usd)})` : '—'))));
    main.dataset.status = job.status;
    payload.textContent = JSON.stringify(job.payload, null, 2);
    result.textContent = job.result === null ? (job.status === 'completed' ? 'null' : '—')
      : typeof job.result?.text === 'string' && Object.keys(job.result).length <= 3 ? job.result.text : JSON.stringify(job.result, null, 2);
    error.hidden = !job.error;
    error.textContent = job.error ?? '';
    drawActions();
  }

  function drawActions() {
    if (!can('jobs:write')) { actions.replaceChildren(); return; }
    const act = (label, run, kind = '') => h('button', { type: 'button', class: kind, dataset: { action: label.toLowerCase() }, onclick: run }, label);
    actions.replaceChildren(
      ['pending', 'running'].includes(job.status) && !job.cancel_requested ? act('Cancel', () => change('cancel')) : '',
      ['failed', 'cancelled'].includes(job.status) ? act('Retry', () => change('retry')) : '',
      terminal.includes(job.status) ? act('Delete', remove, 'danger') : '',
      act('Clone', () => cloneDialog(job), 'secondary'));
  }

  async function change(action) {
    try { await api(`/jobs/${id}/${action}`, { method: 'POST' }); toast(`${action} sent`); }
    catch (e) { toast(e.message, 'error'); }
    if (action === 'retry') window.dispatchEvent(new HashChangeEvent('hashchange')); // its stream had ended: follow it afresh
  }

  async function remove() {
    if (!confirm('Delete this job and its events?')) return;
    try { await api(`/jobs/${id}`, { method: 'DELETE' }); location.hash = '#/jobs'; } catch (e) { toast(e.message, 'error'); }
  }

  /** Ends the open attempt, or (a job cancelled or failed before a claim) the last row. */
  function end(at, outcome, error) {
    Object.assign(open ?? runs.at(-1) ?? {}, { ended: at, outcome, error });
    open = null;
    drawTimeline();
  }

  function drawTimeline() {
    timeline.replaceChildren(...runs.map(a => h('tr', {},
      h('td', {}, a.label ?? `${a.attempt} of ${job.max_attempts}`), h('td', { class: 'mono' }, a.worker ?? ''),
      h('td', {}, time(a.started)), h('td', {}, time(a.ended)),
      h('td', {}, a.started && a.ended ? duration(new Date(a.ended) - new Date(a.started)) : ''),
      h('td', {}, a.outcome ?? (a.ended || a.label ? '' : 'running'), a.error ? h('div', { class: 'error' }, a.error) : ''))));
  }

  function drawUsage() {
    usageBody.replaceChildren(...usage.map(u => h('tr', {}, h('td', {}, u.attempt), h('td', {}, u.step ?? ''), h('td', {}, `${u.model ?? '?'} via ${u.provider ?? '?'}`),
      h('td', {}, number(u.prompt_tokens)), h('td', {}, number(u.completion_tokens)), h('td', {}, usd(u.cost_usd)),
      h('td', {}, duration(u.duration_ms)), h('td', {}, u.finish_reason ?? 'none'))));
  }

  function drawLog() {
    const wanted = level.value, text = search.value.toLowerCase();
    logList.replaceChildren(...logs.filter(l => (wanted === 'all' || l.level === wanted) && (!text || l.message.toLowerCase().includes(text)))
      .map(l => h('li', { class: l.level, dataset: { seq: l.seq } }, time(l.at), ' ', h('span', { class: 'level' }, l.level), ' ', l.message)));
  }

  function drawOutput() {
    outputBox.textContent = output.text;
    document.getElementById('output-section').hidden = output.text === '';
  }

  /** The header follows events newer than what it shows (a replayed old event only adds to the timeline, log and usage). */
  function update(fields, at) {
    if (at && ticks(at) < ticks(job.updated_at)) return;
    Object.assign(job, fields);
    if (at) job.updated_at = at;
    drawHead();
  }

  const handlers = {
    snapshot: d => { output = { attempt: d.attempt, text: d.output ?? '' }; drawOutput(); update(d, d.updated_at); },
    created: d => { runs.push({ label: 'created', started: d.at }); drawTimeline(); },
    status: d => {
      if (d.status === 'running' && d.worker) { runs.push(open = { attempt: d.attempt, worker: d.worker, started: d.at }); drawTimeline(); }
      else if (terminal.includes(d.status)) end(d.at, d.status, d.error); // an end that a retry since made history
      else if (d.status === 'pending' && d.error) end(d.at, 'failed, retrying', d.error); // or rescued after a lost lease
      else if (d.status === 'pending' && open) end(d.at, 'handed back');
      else if (d.status === 'pending' && d.message?.startsWith('Due again')) { /* waited for a service, due now: no new run */ }
      else if (d.status === 'pending') { runs.push({ label: 'retried', started: d.at }); drawTimeline(); }
      const claimed = d.status === 'running' && d.worker ? { started_at: d.at, completed_at: null } : {}; // a claim's time is its start
      update({ status: d.status, attempt: d.attempt, cancel_requested: d.cancel_requested ?? (d.status === 'running' ? job.cancel_requested : false), ...claimed }, d.at);
    },
    progress: d => { if (ticks(d.at) >= ticks(job.updated_at)) { setProgress(head.querySelector('.progress'), d.progress, job.status); job.progress = d.progress; job.message = d.message ?? job.message; document.getElementById('message').textContent = job.message ?? ''; } },
    log: (d, e) => {
      logs.push(d);
      drawLog();
      if (d.seq === ended) { e.target.close(); followRetry(); } // the end's own story line was the last event: the stream is over, no reconnect
    },
    usage: d => { usage.push(d); drawUsage(); },
    output: d => {
      if (d.attempt !== output.attempt) output = { attempt: d.attempt, text: '' };
      output.text = output.text.slice(0, d.offset) + d.text;
      drawOutput();
    },
  };
  for (const kind of terminal) handlers[kind] = d => {
    end(d.completed_at ?? d.updated_at, kind, d.error);
    update(d);
    ended = d.seq; // its log line follows, then the stream ends
  };

  /**
   * A finished job's own stream is over; a retry made elsewhere (another tab, the API) would go
   * unseen. The stream over all jobs, narrowed to this one, says when it is pending again (its
   * first 2 s replayed may hold this job's own earlier events: only one after the end counts).
   */
  function followRetry() {
    if (left || !live.on) return;
    const again = seq => { if (seq > ended && !left) window.dispatchEvent(new HashChangeEvent('hashchange')); };
    stops.push(stream(`/events?job_id=${id}`, {
      'snapshot-list': d => d.items.forEach(j => again(j.seq)), // listed: pending or running, so retried before this stream began
      status: d => again(d.seq),
    }));
  }

  // The page may be left before its first read answers: then it must open nothing (a stream opened
  // after its stops ran was never closed, held one of the browser's six connections, and wrote into the next page).
  let left = false;
  api(`/jobs/${id}`).then(first => {
    if (left) return;
    job = first;
    drawHead();
    const logsOnly = () => api(`/jobs/${id}/logs`, { params: { limit: 1000 } }).then(page => { logs.push(...page.items.map(l => ({ ...l, at: l.time }))); drawLog(); });
    // A key without events:read has no stream: the log as it stands. A stream refused or cut is
    // opened again from where it was, and said so meanwhile, until the job's end. Refused for a job
    // that ended unseen (204) or went (404): the page is shown afresh, as it now is.
    // A job drawn finished whose stream is refused (a 429, a 503, no end event stored) shows its
    // log as it stands: shown afresh it would be refused again, at once, for ever.
    let over = false;
    const shownAfresh = () => { if (!left) window.dispatchEvent(new HashChangeEvent('hashchange')); };
    const probe = () => api(`/jobs/${id}`).then(now => {
      if (!terminal.includes(now.status)) return;
      over = true;
      if (!terminal.includes(first.status)) shownAfresh();
      else { cutNotice.hidden = true; if (logs.length === 0) logsOnly(); }
    }, e => { if (e.status !== 404) throw e; over = true; shownAfresh(); }); // gone: the page says so, with no stream
    if (live.on && can('events:read')) stops.push(stream(`/jobs/${id}/events?last_event_id=0`, handlers,
      { cut: on => { cutNotice.hidden = !on; }, again: () => ended === null && !over && !left, probe }));
    else logsOnly();
    main.dataset.ready = 'true';
  }).catch(e => {
    if (left) return;
    const told = h('p', { class: 'error', role: 'alert' }, e.status === 404 ? `There is no job ${id}.` : e.message);
    if (e.status === 404) main.replaceChildren(h('p', {}, h('a', { href: '#/jobs' }, '← Jobs')), told); // nothing of a job to show
    else main.append(told);
  });

  return () => { left = true; stops.forEach(stop => stop()); };
}

async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast('Payload copied'); } catch { toast('The browser refused to copy', 'error'); }
}
