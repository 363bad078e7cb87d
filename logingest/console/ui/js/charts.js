// Hand-written SVG charts. Sizes are attributes (not inline styles), colours come from CSS classes, and every
// chart has a text alternative.
import { h, s, fmtCompact, fmtNumber } from './dom.js';

function empty(container, msg = 'No events match.') {
  container.replaceChildren(h('p', { class: 'empty' }, msg));
}

/** niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, for axis labels. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function tickLabel(date, spanMs) {
  if (spanMs <= 36 * 3600e3) {
    return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  }
  return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/**
 * timeline draws event volume per bucket with the errors of each bucket overlaid.
 * @param {HTMLElement} container
 * @param {{start: string, count: number, errors: number}[]} points
 * @param {number} bucketSeconds
 */
export function timeline(container, points, bucketSeconds) {
  const total = points.reduce((a, p) => a + (p.count || 0), 0);
  if (!points.length || total === 0) {
    empty(container, 'No events in this time range.');
    return;
  }
  const width = Math.max(300, Math.floor(container.clientWidth || 800));
  const height = width < 500 ? 180 : 230;
  const m = { top: 12, right: 12, bottom: 26, left: 44 };
  const iw = width - m.left - m.right;
  const ih = height - m.top - m.bottom;
  const max = niceMax(Math.max(...points.map((p) => p.count || 0)));
  const bw = iw / points.length;
  const gap = bw > 6 ? Math.min(2, bw * 0.2) : 0;
  const y = (v) => m.top + ih - (v / max) * ih;
  const errTotal = points.reduce((a, p) => a + (p.errors || 0), 0);
  const first = new Date(points[0].start);
  const last = new Date(new Date(points[points.length - 1].start).getTime() + bucketSeconds * 1000);
  const span = last - first;

  const svg = s('svg', {
    class: 'chart timeline', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Event volume from ${first.toLocaleString()} to ${last.toLocaleString()}: ` +
      `${fmtNumber(total)} events, ${fmtNumber(errTotal)} errors, in ${points.length} buckets.`,
  });
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    const yy = y(v);
    svg.append(
      s('line', { class: 'grid', x1: m.left, x2: width - m.right, y1: yy, y2: yy }),
      s('text', { class: 'axis', x: m.left - 6, y: yy + 4, 'text-anchor': 'end' }, fmtCompact(v)),
    );
  }
  const ticks = Math.max(2, Math.min(7, Math.floor(iw / 110)));
  for (let t = 0; t < ticks; t++) {
    const i = Math.round((t * (points.length - 1)) / (ticks - 1));
    const x = m.left + i * bw + bw / 2;
    svg.append(s('text', {
      class: 'axis', x, y: height - 8, 'text-anchor': t === 0 ? 'start' : t === ticks - 1 ? 'end' : 'middle',
    }, tickLabel(new Date(points[i].start), span)));
  }
  points.forEach((p, i) => {
    const x = m.left + i * bw + gap / 2;
    const w = Math.max(1, bw - gap);
    const g = s('g', { class: 'bucket' });
    const start = new Date(p.start);
    g.append(s('title', {}, `${start.toLocaleString()}: ${fmtNumber(p.count)} events, ${fmtNumber(p.errors || 0)} errors`));
    g.append(s('rect', { class: 'hit', x: m.left + i * bw, y: m.top, width: bw, height: ih }));
    if (p.count) g.append(s('rect', { class: 'bar', x, y: y(p.count), width: w, height: m.top + ih - y(p.count), rx: Math.min(2, w / 3) }));
    if (p.errors) g.append(s('rect', { class: 'bar-err', x, y: y(p.errors), width: w, height: m.top + ih - y(p.errors), rx: Math.min(2, w / 3) }));
    svg.append(g);
  });
  svg.append(s('line', { class: 'baseline', x1: m.left, x2: width - m.right, y1: m.top + ih, y2: m.top + ih }));
  container.replaceChildren(svg);
}

/**
 * bars draws a horizontal bar per value. onSelect, when given, makes each label a button.
 * @param {{value: string, count: number}[]} items
 */
export function bars(container, items, { classFor = () => '', onSelect, label = 'Distribution' } = {}) {
  if (items === undefined) {
    empty(container, 'Not available from this server.');
    return;
  }
  if (!items || !items.length) {
    empty(container);
    return;
  }
  const max = Math.max(...items.map((i) => i.count));
  const total = items.reduce((a, i) => a + i.count, 0);
  const list = h('ul', { class: 'bars', 'aria-label': label });
  for (const it of items) {
    const name = it.value === '' || it.value == null ? '(none)' : it.value;
    const pct = total ? (100 * it.count) / total : 0;
    const lab = onSelect && it.value
      ? h('button', { type: 'button', class: 'linklike', title: `Filter by ${name}`, onclick: () => onSelect(it.value) }, name)
      : h('span', {}, name);
    const w = max ? Math.max(0.5, (100 * it.count) / max) : 0;
    list.append(h('li', {},
      h('span', { class: 'bar-label' }, lab),
      h('span', { class: 'bar-count' }, fmtNumber(it.count), h('small', {}, ` ${pct.toFixed(pct < 10 ? 1 : 0)}%`)),
      s('svg', { class: 'bar-track', viewBox: '0 0 100 6', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
        s('rect', { class: 'track', x: 0, y: 0, width: 100, height: 6, rx: 3 }),
        s('rect', { class: `fill ${classFor(it.value)}`, x: 0, y: 0, width: w, height: 6, rx: 3 })),
    ));
  }
  container.replaceChildren(list);
}

/** donut draws shares of a whole as a ring, with a bar legend next to it. */
export function donut(container, items, { classFor = () => '', onSelect, label = 'Distribution' } = {}) {
  const total = (items || []).reduce((a, i) => a + i.count, 0);
  if (!total) {
    empty(container);
    return;
  }
  const r = 42;
  const c = 2 * Math.PI * r;
  const svg = s('svg', {
    class: 'chart donut', viewBox: '0 0 120 120', width: 140, height: 140, role: 'img',
    'aria-label': `${label}: ${items.map((i) => `${i.value} ${fmtNumber(i.count)}`).join(', ')}`,
  });
  svg.append(s('circle', { class: 'track', cx: 60, cy: 60, r, fill: 'none', 'stroke-width': 16 }));
  let offset = 0;
  for (const it of items) {
    const len = (it.count / total) * c;
    svg.append(s('circle', {
      class: `arc ${classFor(it.value)}`, cx: 60, cy: 60, r, fill: 'none', 'stroke-width': 16,
      'stroke-dasharray': `${len} ${c - len}`, 'stroke-dashoffset': -offset, transform: 'rotate(-90 60 60)',
    }, s('title', {}, `${it.value}: ${fmtNumber(it.count)}`)));
    offset += len;
  }
  svg.append(
    s('text', { class: 'donut-total', x: 60, y: 60, 'text-anchor': 'middle' }, fmtCompact(total)),
    s('text', { class: 'donut-sub', x: 60, y: 76, 'text-anchor': 'middle' }, 'events'),
  );
  const legend = h('div', { class: 'donut-legend' });
  bars(legend, items, { classFor, onSelect, label });
  container.replaceChildren(h('div', { class: 'donut-wrap' }, svg, legend));
}
