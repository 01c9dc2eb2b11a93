// The Jobs page's filters: the hash's query string holds GET /jobs's own parameters
// (#/jobs?status=failed&type=echo&payload.theme=fantasy), so a filtered view is a link.
import { h, statuses } from '../dom.js';

export const listParams = ['status', 'type', 'created_after', 'created_before', 'id_prefix'];

/** The filter as GET /jobs takes it (arrays for status and type, payload.* entries). */
export function readFilter(params) {
  const filter = { status: params.getAll('status'), type: params.getAll('type'), payload: {} };
  for (const name of ['created_after', 'created_before', 'id_prefix']) if (params.get(name)) filter[name] = params.get(name);
  for (const [name, value] of params) if (name.startsWith('payload.')) filter.payload[name] = value;
  filter.offset = Math.max(0, Number.parseInt(params.get('offset') ?? '0', 10) || 0); // a link's offset=abc is the first page
  return filter;
}

/** The filter as query parameters for GET /jobs (and the hash). */
export function filterParams(filter) {
  const params = { status: filter.status, type: filter.type, ...filter.payload };
  for (const name of ['created_after', 'created_before', 'id_prefix']) params[name] = filter[name];
  return params;
}

/** The filter as POST /jobs/bulk/{action} takes it: payload.theme=fantasy becomes {"theme": "fantasy"}. */
export function bulkFilter(filter, tenant) {
  const payload = {};
  for (const [name, text] of Object.entries(filter.payload)) {
    const path = name.slice('payload.'.length).split('.');
    let node = payload;
    for (const step of path.slice(0, -1)) node = node[step] ??= {};
    node[path.at(-1)] = payloadValue(text);
  }
  return {
    status: filter.status.length ? filter.status : undefined,
    type: filter.type.length ? filter.type : undefined,
    created_after: filter.created_after, created_before: filter.created_before, id_prefix: filter.id_prefix,
    payload: Object.keys(payload).length ? payload : undefined,
    tenant_id: tenant || undefined,
  };
}

/** The server's rule: 3, 2.5, true, false and "quoted" are JSON; anything else is the text. */
function payloadValue(text) {
  if (/^(true|false|-?\d[\d.eE+-]*|".*")$/.test(text)) {
    try { return JSON.parse(text); } catch { /* the text itself */ }
  }
  return text;
}

/** Whether a new job (pending, of this type) belongs in this view without asking the server. */
export function admits(filter, type) {
  return filter.offset === 0 && Object.keys(filter.payload).length === 0 && !filter.id_prefix && !filter.created_before
    && mayMatch(filter, 'pending', type);
}

/** Whether a job of this status and type could be in this view, as far as those two say. */
export function mayMatch(filter, status, type) {
  return (filter.status.length === 0 || filter.status.includes(status)) && (filter.type.length === 0 || filter.type.includes(type));
}

/** The filter form; submitting it changes the hash, which shows the page again. */
export function filterForm(filter, typeNames) {
  const payloadText = Object.entries(filter.payload).map(([n, v]) => `${n.slice('payload.'.length)}=${v}`).join(', ');
  const local = iso => (iso ? new Date(iso).toISOString().slice(0, 16) : '');
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' },
    h('fieldset', {}, h('legend', {}, 'Status'),
      statuses.map(st => h('label', {}, h('input', { type: 'checkbox', name: 'status', value: st, checked: filter.status.includes(st) }), st))),
    h('label', {}, 'Types', h('select', { name: 'type', multiple: true, size: Math.min(4, Math.max(2, typeNames.length)) },
      typeNames.map(t => h('option', { value: t, selected: filter.type.includes(t) }, t)))),
    h('label', {}, 'Created after (UTC)', h('input', { type: 'datetime-local', name: 'created_after', value: local(filter.created_after) })),
    h('label', {}, 'Created before (UTC)', h('input', { type: 'datetime-local', name: 'created_before', value: local(filter.created_before) })),
    h('label', {}, 'Id starts with', h('input', { name: 'id_prefix', value: filter.id_prefix ?? '', size: 12, placeholder: '0190ab12' })),
    h('label', {}, 'Payload', h('input', { name: 'payload', value: payloadText, size: 24, placeholder: 'theme=fantasy, count=3' })),
    h('button', { type: 'submit' }, 'Apply'),
    h('a', { href: '#/jobs', class: 'button secondary' }, 'Clear'));
  form.addEventListener('submit', event => {
    event.preventDefault();
    const q = new URLSearchParams();
    for (const box of form.querySelectorAll('input[name=status]:checked')) q.append('status', box.value);
    for (const option of form.type.selectedOptions) q.append('type', option.value);
    for (const name of ['created_after', 'created_before']) if (form[name].value) q.set(name, `${form[name].value}:00Z`);
    if (form.id_prefix.value.trim()) q.set('id_prefix', form.id_prefix.value.trim());
    // "theme=fantasy, count=3": a comma starts a new field only before a name and '=' (a value may hold commas).
    for (const part of form.payload.value.split(/,(?=\s*[^=,\s]+\s*=)/).map(p => p.trim().replace(/,+$/, '').trim()).filter(Boolean)) {
      const at = part.indexOf('=');
      if (at > 0) q.append(`payload.${part.slice(0, at).trim()}`, part.slice(at + 1).trim());
    }
    location.hash = `#/jobs?${q}`;
  });
  return form;
}
