// Small DOM and formatting helpers. Everything is built with the DOM API (text is never parsed
// as HTML), so a job's payload, message or log line cannot inject markup.

/** h('a', {href: '#/jobs', class: 'x', onclick: f}, 'text', child…) */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElementNS(tag === 'svg' || attributes.svg ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false || name === 'svg') continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An SVG element (sparklines, charts). */
export const s = (tag, attributes = {}, ...children) => h(tag, { ...attributes, svg: true }, ...children);

/** A time in the browser's zone, with UTC on hover. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const at = new Date(iso);
  return h('time', { datetime: iso, title: `${at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}` },
    at.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }));
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

export const number = n => (n ?? 0).toLocaleString();
export const usd = n => `$${(n ?? 0).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`;
/** Ids are UUID v7: the first digits are the time (alike for jobs made together), the last are random. */
export const shortId = id => `${id.slice(0, 8)}…${id.slice(-4)}`;

/** A status in one vocabulary everywhere: lower case, with its own colour. */
export const badge = status => h('span', { class: `badge ${status}`, dataset: { status } }, status);

/** A 0–100 progress bar; its width is set through the CSSOM (inline style attributes are not allowed by the page's CSP). */
export function progressBar(progress, status) {
  const fill = h('span', { class: 'fill' });
  const bar = h('span', { class: `progress ${status ?? ''}`, role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 }, fill);
  setProgress(bar, progress, status);
  return bar;
}

export function setProgress(bar, progress, status) {
  const value = Math.max(0, Math.min(100, progress ?? 0));
  bar.setAttribute('aria-valuenow', value);
  bar.querySelector('.fill').style.width = `${value}%`;
  if (status) bar.className = `progress ${status}`;
}

/** Comparable text of an ISO time with up to 7 fractional digits ("…12Z" and "…12.5Z" order right). */
export function ticks(iso) {
  const [whole, fraction = ''] = iso.replace('Z', '').split('.');
  return `${whole}.${fraction.padEnd(7, '0')}`;
}

/** A message at the bottom of the screen for a few seconds. */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toast');
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

export const statuses = ['pending', 'running', 'completed', 'failed', 'cancelled'];
