// Live mode: pages follow the event streams and refresh their counts on a timer; pausing closes
// the streams and stops the timers, resuming shows the page afresh.
import { toast } from './dom.js';

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
 * An EventSource with a handler per event name; data is parsed JSON. Returns a function that
 * closes it. The browser reconnects by itself (with Last-Event-ID) after a dropped stream.
 */
export function stream(url, handlers) {
  const source = new EventSource(url);
  for (const [name, handle] of Object.entries(handlers)) {
    if (name === 'open' || name === 'error') source.addEventListener(name, handle);
    else source.addEventListener(name, e => handle(JSON.parse(e.data), e));
  }
  return () => source.close();
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
