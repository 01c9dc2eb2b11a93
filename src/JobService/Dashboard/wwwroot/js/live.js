// Live mode: pages follow the event streams and refresh their counts on a timer; pausing closes
// the streams and stops the timers, resuming shows the page afresh.
import { h, toast } from './dom.js';
import { api } from './api.js';

const listeners = new Set();
export const live = { on: true, statsSeconds: 10 };

export function setLive(on) {
  live.on = on;
  for (const listener of listeners) listener(on);
}

export function onLiveChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * An EventSource with a handler per named event; data is parsed JSON. Returns a function that
 * closes it. The browser reconnects by itself (with Last-Event-ID) after a dropped stream, but
 * never after a refused one: a 503 while the service starts or its database is away, a 429, a
 * 401 once signed out, a 204 or 404 for a job that ended or went. Then this asks `probe()` (by
 * default the session: a 401 there goes to sign in, as every read does; a page may tell more) and
 * opens the stream again from the last event it had, after 1 s, then 2, 4… up to 30 s, while
 * `again()` says so. `cut(true)` says the stream is cut (refused, or not back within 2 s), `cut(false)` that it is back.
 */
export function stream(url, handlers, { cut = () => {}, again = () => true, probe = () => api('session') } = {}) {
  let source, timer, slow, pause = 1000, lastId = null, closed = false;
  const open = () => {
    source = new EventSource(lastId === null ? url : resumed(url, lastId));
    source.addEventListener('open', () => { pause = 1000; clearTimeout(slow); slow = null; cut(false); });
    source.addEventListener('error', () => {
      if (closed || !again()) return;
      if (source.readyState !== EventSource.CLOSED) { // the browser reconnecting: said if it takes a while (its tries may come faster)
        slow ??= setTimeout(() => { slow = null; if (!closed && again()) cut(true); }, 2000);
        return;
      }
      cut(true);
      Promise.resolve().then(probe).catch(() => {});
      timer = setTimeout(() => { if (!closed && again()) open(); }, pause);
      pause = Math.min(pause * 2, 30_000);
    });
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, e => { if (e.lastEventId) lastId = e.lastEventId; handle(JSON.parse(e.data), e); });
    }
  };
  open();
  return () => { closed = true; clearTimeout(timer); clearTimeout(slow); source.close(); };
}

/**
 * The line a page with streams shows when they are cut ("interrupted: reconnecting"), or, for a
 * key without events:read (which gets no streams), at once while live: live updates are off.
 */
export function streamNotice(readsEvents) {
  return h('p', { class: 'stream-cut', role: 'status', hidden: !(live.on && !readsEvents) }, readsEvents
    ? 'Live updates are interrupted: reconnecting. The page shows what it last heard.'
    : 'Live updates are off: this key cannot read events (events:read). Reload the page for the latest.');
}

/** The url with last_event_id set (what the browser's own reconnect sends as Last-Event-ID). */
function resumed(url, lastId) {
  const at = new URL(url, location.href);
  at.searchParams.set('last_event_id', lastId);
  return at.pathname + at.search;
}

/** Runs work now, then every Dashboard:StatsRefreshSeconds while live; returns a stop function. */
export function every(work) {
  const run = async () => {
    try { await work(); } catch (error) { toast(error.message, 'error'); }
  };
  run();
  if (!live.on) return () => {};
  const timer = setInterval(run, live.statsSeconds * 1000);
  return () => clearInterval(timer);
}
