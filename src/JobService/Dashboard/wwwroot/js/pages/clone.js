// "Clone and resubmit": the job's type and payload in an editor, checked against the type's
// JSON Schema (GET /job-types) before POST /jobs; the new job opens when it is stored.
import { api } from '../api.js';
import { h, toast } from '../dom.js';
import { validate } from '../schema.js';

export async function cloneDialog(job) {
  const types = await api('/job-types');
  const editor = h('textarea', { rows: 12, spellcheck: false, 'aria-label': 'Payload (JSON)' }, JSON.stringify(job.payload, null, 2));
  const type = h('select', { 'aria-label': 'Type' }, types.map(t => h('option', { value: t.type, selected: t.type === job.type }, t.type)));
  const priority = h('input', { type: 'number', min: -1000, max: 1000, value: job.priority, 'aria-label': 'Priority' });
  const problems = h('ul', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit' }, 'Submit');
  const form = h('form', { class: 'clone' }, h('h2', {}, 'Clone and resubmit'),
    h('label', {}, 'Type ', type), h('label', {}, 'Priority ', priority), editor, problems,
    h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Cancel'), submit));
  const dialog = h('dialog', { class: 'confirm' }, form);

  function check() {
    let payload;
    try { payload = JSON.parse(editor.value); } catch (e) { return { errors: [`The payload is not JSON: ${e.message}`] }; }
    const schema = types.find(t => t.type === type.value)?.payload_schema;
    return { payload, errors: validate(schema, payload) };
  }
  const show = () => { const { errors } = check(); problems.replaceChildren(...errors.map(e => h('li', {}, e))); submit.disabled = errors.length > 0; };
  editor.addEventListener('input', show);
  type.addEventListener('change', show);
  form.addEventListener('submit', async event => {
    event.preventDefault();
    const { payload, errors } = check();
    if (errors.length) return;
    try {
      const created = await api('/jobs', { method: 'POST', body: { type: type.value, payload, priority: Number(priority.value) } });
      dialog.close();
      location.hash = `#/jobs/${created.id}`;
    } catch (e) {
      problems.replaceChildren(h('li', {}, e.message), ...Object.entries(e.problem?.errors ?? {}).map(([k, v]) => h('li', {}, `${k}: ${v.join(' ')}`)));
    }
  });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  show();
  dialog.showModal();
  if (!types.length) toast('No job types to submit', 'error');
}
