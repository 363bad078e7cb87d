// The live tail: GET /api/v1/logs/stream read as Server-Sent Events through fetch(), because EventSource
// cannot send the X-API-Key header and the key must never go into a URL. Pausing closes the stream; resuming
// reopens it with Last-Event-ID, so the server replays what arrived meanwhile. Servers without the stream
// endpoint are polled instead.
import { ApiError } from './api.js';
import { $, h, fmtNumber, fmtTime, typeClass } from './dom.js';
import { SSEParser } from './sse.js';

const MAX_ROWS = 500;
const POLL_MS = 500;

let active = false;
let paused = false;
let controller = null;
let retryTimer = null;
let lastId = '';
let filterKey = null;
let seen = new Set();
let newest = 0; // the latest receive time shown, in ms
let count = 0;
let mode = 'stream'; // 'stream', or 'poll' once the server answered 404

function status(state, text) {
  const el = $('#tail-status');
  el.dataset.state = state;
  el.textContent = text;
}

export function init(ctx) {
  $('#tail-pause').addEventListener('click', () => {
    paused = !paused;
    const btn = $('#tail-pause');
    btn.textContent = paused ? 'Resume' : 'Pause';
    btn.setAttribute('aria-pressed', String(paused));
    if (paused) {
      stop();
      status('paused', 'Paused');
    } else {
      start(ctx);
    }
  });
  $('#tail-clear').addEventListener('click', () => {
    $('#tail-list').replaceChildren();
    count = 0;
    $('#tail-count').textContent = '';
  });
}

export function show(ctx) {
  active = true;
  const key = JSON.stringify(ctx.state.filters);
  if (key !== filterKey) { // new filters: start over
    filterKey = key;
    lastId = '';
    seen = new Set();
    newest = 0;
    count = 0;
    $('#tail-list').replaceChildren();
    $('#tail-count').textContent = '';
  }
  stop();
  if (paused) {
    status('paused', 'Paused');
    return;
  }
  start(ctx);
}

export function hide() {
  active = false;
  stop();
}

function stop() {
  clearTimeout(retryTimer);
  controller?.abort();
  controller = null;
}

async function start(ctx) {
  stop();
  controller = new AbortController();
  const { signal } = controller;
  status('connecting', 'Connecting…');
  try {
    if (!seen.size) await backfill(ctx, signal);
    if (mode === 'stream') await stream(ctx, signal);
    if (mode === 'poll') await poll(ctx, signal);
  } catch (err) {
    if (signal.aborted || err.name === 'AbortError') return;
    const msg = ctx.failed(err);
    if (!msg) return;
    status('error', 'Reconnecting…');
    $('#tail-status').title = msg;
  }
  if (!signal.aborted && active && !paused) {
    retryTimer = setTimeout(() => start(ctx), 1500);
  }
}

/** backfill shows the most recent matching events, so the view is not empty until the next one arrives. */
async function backfill(ctx, signal) {
  const data = await ctx.api.get('/logs/filter', {
    ...ctx.state.filters, sort_by: 'received_at', sort_order: 'desc', page_size: 25,
  }, { signal });
  for (const ev of (data.logs || []).reverse()) add(ctx, ev, false);
}

async function stream(ctx, signal) {
  const headers = { Accept: 'text/event-stream' };
  if (lastId) headers['Last-Event-ID'] = lastId;
  let resp;
  try {
    resp = await ctx.api.fetch('/logs/stream', ctx.state.filters, { headers, signal });
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
      mode = 'poll';
      return;
    }
    throw err;
  }
  status('live', 'Live');
  const parser = new SSEParser();
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    for (const ev of parser.push(value)) {
      if (ev.event !== 'log' && ev.event !== 'message') continue;
      try {
        add(ctx, JSON.parse(ev.data), true);
      } catch { /* not an event */ }
    }
    if (parser.lastEventId) lastId = parser.lastEventId;
  }
  throw new Error('the stream ended'); // reconnect
}

async function poll(ctx, signal) {
  status('live', 'Live (polling)');
  while (!signal.aborted) {
    const data = await ctx.api.get('/logs/filter', {
      ...ctx.state.filters, sort_by: 'received_at', sort_order: 'desc', page_size: 100,
    }, { signal });
    for (const ev of (data.logs || []).reverse()) {
      // Only what arrived after the newest event shown: older matches would land above newer ones.
      if (receivedAt(ev) >= newest) add(ctx, ev, true);
    }
    await new Promise((resolve) => { retryTimer = setTimeout(resolve, POLL_MS); });
  }
}

function receivedAt(ev) {
  const t = Date.parse(ev.created_at || ev.received_at || '');
  return Number.isNaN(t) ? 0 : t;
}

function add(ctx, ev, fresh) {
  const key = ev.id ?? ev.event_id;
  if (seen.has(key)) return;
  seen.add(key);
  if (seen.size > 4 * MAX_ROWS) seen.delete(seen.values().next().value); // a Set keeps insertion order
  newest = Math.max(newest, receivedAt(ev));
  count++;
  const li = h('li', {
    class: fresh ? 'tail-row new' : 'tail-row', tabindex: 0,
    'aria-label': `${ev.event_name}, ${ev.event_type}, ${fmtTime(ev.timestamp)}`,
    onclick: () => ctx.showDetail(ev),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ctx.showDetail(ev); } },
  },
  h('time', { datetime: ev.timestamp, class: 'nowrap' }, fmtTime(ev.timestamp)),
  h('span', { class: `badge ${typeClass(ev.event_type)}` }, ev.event_type),
  h('span', { class: 'name' }, ev.event_name),
  h('span', { class: 'mono trunc muted', title: ev.user_id || '' }, ev.user_id || ''),
  h('span', { class: 'mono trunc muted', title: ev.session_id || '' }, ev.session_id || ''));
  const list = $('#tail-list');
  list.prepend(li);
  while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
  $('#tail-count').textContent = `${fmtNumber(count)} event${count === 1 ? '' : 's'}`;
}
