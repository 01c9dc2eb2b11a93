// The dashboard's shell: the session, the theme, live mode and a router over #/page/… hashes.
import { api, ApiError, session } from './api.js';
import { bindThemePicker } from './theme.js';
import { live, setLive, onLiveChange } from './live.js';
import { h, toast } from './dom.js';
import * as overview from './pages/overview.js';
import * as jobs from './pages/jobs.js';
import * as job from './pages/job.js';
import * as types from './pages/types.js';
import * as workers from './pages/workers.js';

const main = document.getElementById('page');
let leave = null;

/** #/jobs?status=failed → { page: 'jobs', id: undefined, params: URLSearchParams } */
function route() {
  const [path, search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [page = 'overview', id] = path.split('/');
  return { page, id, params: new URLSearchParams(search) };
}

function show() {
  leave?.();
  leave = null;
  const { page, id, params } = route();
  const module = page === 'jobs' && id ? job : { overview, jobs, types, workers }[page] ?? overview;
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.page === (page in { jobs, types, workers } ? page : 'overview'));
  main.replaceChildren();
  main.dataset.ready = 'false';
  main.dataset.route = location.hash; // which page is drawn (tests wait for this and data-ready)
  try {
    leave = module.render(main, { id, params, session, can }) ?? null;
  } catch (error) {
    main.append(h('p', { class: 'error' }, error.message));
  }
}

/** What the signed-in key may do: the buttons follow it, and the server refuses the rest anyway. */
function can(scope) {
  return session.scopes?.includes(scope) || session.scopes?.includes('admin');
}

async function start() {
  bindThemePicker(document.getElementById('theme'));
  let me;
  try {
    me = await api('session');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // api() is taking the browser to sign in
    main.append(h('p', { class: 'error' }, `The service did not answer: ${error.message}`));
    return;
  }
  Object.assign(session, me, { token: me.antiforgery_token });
  live.statsSeconds = me.stats_refresh_seconds;
  const signOut = document.getElementById('sign-out');
  signOut.hidden = !me.auth_enabled;
  signOut.addEventListener('click', async () => {
    try { await api('session', { method: 'DELETE' }); location.href = 'signin.html'; }
    catch (error) { if (error.status !== 401) toast(`Not signed out: ${error.message}`, 'error'); } // a 401: ended already, on its way to sign in
  });
  if (can('admin') && me.auth_enabled) {
    const box = document.getElementById('tenant-box');
    const input = document.getElementById('tenant');
    box.hidden = false;
    input.value = session.tenant = localStorage.getItem('jobservice.tenant') ?? '';
    input.addEventListener('change', () => { session.tenant = input.value.trim(); localStorage.setItem('jobservice.tenant', session.tenant); show(); });
  }
  const liveButton = document.getElementById('live');
  liveButton.addEventListener('click', () => setLive(!live.on));
  onLiveChange(on => {
    liveButton.setAttribute('aria-pressed', String(on));
    liveButton.textContent = on ? '● Live' : '❚❚ Paused';
    show(); // paused: the page as it stands now, without streams; resumed: afresh
  });
  window.addEventListener('hashchange', show);
  show();
}

start();
