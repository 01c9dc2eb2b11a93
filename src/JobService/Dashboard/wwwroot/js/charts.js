// Small SVG charts drawn from GET /jobs/stats?window=…&bucket=… (no chart library: a few lines each).
import { h, s, number } from './dom.js';

const width = 300, height = 100;

/** Lines over the buckets, one per series ({ name, cls, values }), missing values drawn as 0; the legend sums counts, or shows the latest of a percentile ('last'). */
export function lineChart(title, series, format = number, summary = 'sum') {
  const max = Math.max(0, ...series.flatMap(x => x.values.map(v => v ?? 0)));
  const scale = max || 1; // all zero: a flat line at the bottom, and the legend says 0, not the scale's 1
  const n = Math.max(1, (series[0]?.values.length ?? 1) - 1);
  const point = (v, i) => `${((i / n) * width).toFixed(1)},${(height - ((v ?? 0) / scale) * (height - 6) - 3).toFixed(1)}`;
  return h('figure', { class: 'chart' },
    h('h3', {}, title, h('span', { class: 'muted' }, ` · max ${format(max)}`)),
    s('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title },
      series.map(x => s('polyline', { class: `line ${x.cls}`, points: x.values.map(point).join(' '), 'vector-effect': 'non-scaling-stroke' }))),
    h('div', { class: 'legend' }, series.map(x => h('span', { class: x.cls }, h('i'),
      summary === 'sum' ? `${x.name} ${format(sum(x.values))}` : `${x.name} now ${format(last(x.values))}`))));
}

/** A tiny line of one series, e.g. a type's completions per bucket. */
export function sparkline(values, label) {
  const max = Math.max(1, ...values);
  const n = Math.max(1, values.length - 1);
  return s('svg', { class: 'spark', viewBox: '0 0 100 20', preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
    s('title', {}, label),
    s('polyline', { points: values.map((v, i) => `${(i / n) * 100},${19 - (v / max) * 18}`).join(' '), 'vector-effect': 'non-scaling-stroke' }));
}

const sum = values => values.reduce((a, v) => a + (v ?? 0), 0);
/** The latest bucket that has a value (percentiles do not add up). */
const last = values => values.filter(v => v !== null && v !== undefined).at(-1) ?? null;
