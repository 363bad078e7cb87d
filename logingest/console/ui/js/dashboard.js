// The dashboard: server-side aggregates over every matching event (GET /api/v1/dashboard), refreshed on a
// timer. Servers without that endpoint get the summary of GET /api/v1/metrics instead.
import { ApiError } from './api.js';
import { $, $$, fmtMs, fmtNumber, fmtPercent, fromLocalInput, toLocalInput, typeClass } from './dom.js';
import { RANGES } from './state.js';
import * as charts from './charts.js';

const REFRESH_MS = 30000;

let timer = null;
let controller = null;
let lastData = null;
let active = false;
let haveDashboard = true; // until the server answers 404

const CARD_FORMAT = {
  total_logs: fmtNumber,
  logs_last_hour: fmtNumber,
  logs_last_day: fmtNumber,
  error_rate_percent: fmtPercent,
  average_latency_ms: fmtMs,
  active_sessions: fmtNumber,
  active_users: fmtNumber,
};

function range(opts) {
  const now = Date.now();
  if (opts.range === 'custom') {
    const from = Date.parse(opts.from || '');
    const to = opts.to ? Date.parse(opts.to) : now;
    if (!Number.isNaN(from) && !Number.isNaN(to) && from < to) {
      return { name: 'custom', from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    }
  }
  const name = RANGES[opts.range] ? opts.range : '24h';
  return { name, from: new Date(now - RANGES[name]).toISOString(), to: new Date(now).toISOString() };
}

export function init(ctx) {
  for (const b of $$('#ranges button')) {
    b.addEventListener('click', () => {
      const r = b.dataset.range;
      if (r === 'custom') {
        const cur = range(ctx.state.opts);
        $('#custom-range').hidden = false;
        $('#d-from').value = toLocalInput(cur.from);
        $('#d-to').value = toLocalInput(cur.to);
        $('#d-from').focus();
        return;
      }
      ctx.navigate({ opts: { range: r } });
    });
  }
  $('#d-apply').addEventListener('click', () => {
    const from = fromLocalInput($('#d-from').value);
    const to = fromLocalInput($('#d-to').value);
    if (!from || (to && to <= from)) {
      showNotice('Choose a start before the end of the range.', true);
      return;
    }
    ctx.navigate({ opts: { range: 'custom', from, to } });
  });
  $('#refresh').addEventListener('click', () => load(ctx));
  $('#autorefresh').addEventListener('change', () => schedule(ctx));
  document.addEventListener('visibilitychange', () => { if (active) schedule(ctx); });
  new ResizeObserver(() => { if (active && lastData) drawTimeline(lastData); }).observe($('#c-timeline'));
}

export function show(ctx) {
  active = true;
  const r = range(ctx.state.opts);
  for (const b of $$('#ranges button')) b.setAttribute('aria-pressed', String(b.dataset.range === r.name));
  $('#custom-range').hidden = r.name !== 'custom';
  if (r.name === 'custom') {
    $('#d-from').value = toLocalInput(r.from);
    $('#d-to').value = toLocalInput(r.to);
  }
  load(ctx);
}

export function hide() {
  active = false;
  clearTimeout(timer);
  controller?.abort();
}

function schedule(ctx) {
  clearTimeout(timer);
  if (active && $('#autorefresh').checked && document.visibilityState === 'visible') {
    timer = setTimeout(() => load(ctx), REFRESH_MS);
  }
}

function showNotice(msg, isError = false) {
  const n = $('#dash-notice');
  n.textContent = msg || '';
  n.hidden = !msg;
  n.classList.toggle('error', isError);
}

async function load(ctx) {
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  const r = range(ctx.state.opts);
  $('#app').setAttribute('aria-busy', 'true');
  try {
    let data;
    if (haveDashboard) {
      try {
        data = await ctx.api.get('/dashboard', { ...ctx.state.filters, from: r.from, to: r.to }, { signal });
        data.source = 'dashboard';
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
        haveDashboard = false;
      }
    }
    if (!haveDashboard) data = fromMetrics(await ctx.api.get('/metrics', undefined, { signal }));
    if (signal.aborted) return;
    lastData = data;
    draw(ctx, data);
    $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err.name === 'AbortError') return;
    const msg = ctx.failed(err);
    if (msg) showNotice(`Could not load the dashboard: ${msg}`, true);
    else return;
  } finally {
    $('#app').removeAttribute('aria-busy');
  }
  schedule(ctx);
}

/** fromMetrics maps GET /api/v1/metrics (either wire shape) to the dashboard's shape; it has no range. */
function fromMetrics(m) {
  const vc = (list, key) => (list || []).map((x) => ({ value: x.value ?? x[key] ?? '', count: x.count }));
  return {
    source: 'metrics',
    totals: {
      total_logs: m.total_logs,
      logs_last_hour: m.logs_last_hour ?? m.last_hour,
      logs_last_day: m.logs_last_day ?? m.last_day,
      error_rate_percent: m.error_rate_percent,
      average_latency_ms: m.average_latency_ms,
      active_sessions: m.active_sessions,
      active_users: m.active_users,
    },
    event_types: vc(m.top_event_types, 'event_type'),
    top_event_names: vc(m.top_event_names, 'event_name'),
  };
}

function draw(ctx, data) {
  const t = data.totals || {};
  const estimated = new Set(data.estimated || []);
  for (const card of $$('#cards .metric')) {
    const k = card.dataset.metric;
    const v = t[k];
    const val = $('.value', card);
    val.textContent = (estimated.has(k) && v != null ? '≈ ' : '') + (v == null ? '–' : CARD_FORMAT[k](v));
    val.title = estimated.has(k) ? 'Estimated (approximate distinct count)' : '';
    card.dataset.empty = String(v == null);
  }
  $('[data-metric="total_logs"] .sub').textContent = t.logs_today != null ? `${fmtNumber(t.logs_today)} today` : 'all time';

  const f = ctx.state.filters;
  if (data.source === 'metrics') {
    showNotice('This server has no /api/v1/dashboard endpoint: showing the summary of /api/v1/metrics ' +
      '(no time range, no filters, no timeline, priorities, versions or platforms).');
  } else {
    const filtered = Object.keys(f).length ? ' Filters apply to the charts and range counts.' : '';
    showNotice(data.exact === false && estimated.size
      ? `Some figures are estimated: ${[...estimated].join(', ')}.${filtered}` : filtered.trim());
  }
  drawTimeline(data);
  const select = (key) => (value) => ctx.setFilter(key, value);
  charts.donut($('#c-event_types'), data.event_types, { classFor: typeClass, onSelect: select('event_type'), label: 'Event types' });
  charts.bars($('#c-priorities'), data.priorities, { classFor: (v) => `p-${v}`, onSelect: select('priority'), label: 'Priorities' });
  charts.bars($('#c-top_event_names'), data.top_event_names, { onSelect: select('event_name'), label: 'Top event names' });
  charts.bars($('#c-app_versions'), data.app_versions, { onSelect: select('app_version'), label: 'App versions' });
  charts.bars($('#c-platforms'), data.platforms, { classFor: () => 'c-platform', label: 'Platforms' });
}

const shortFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const yearFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
// fmtShort leaves out the year of this year's dates.
const fmtShort = (iso) => {
  const d = new Date(iso);
  return (d.getFullYear() === new Date().getFullYear() ? shortFmt : yearFmt).format(d);
};

function drawTimeline(data) {
  const box = $('#c-timeline');
  if (!data.timeline) {
    charts.bars(box, undefined);
    $('#timeline-range').textContent = '';
    return;
  }
  const rg = data.range || {};
  $('#timeline-range').textContent = rg.from && rg.to ? `${fmtShort(rg.from)} – ${fmtShort(rg.to)}` : '';
  charts.timeline(box, data.timeline, rg.bucket_seconds || 3600);
}
