// The explorer: GET /api/v1/logs/filter with the shared filters, sorting and keyset pagination (next_cursor),
// and export (GET /api/v1/logs/export).
import { ApiError } from './api.js';
import { $, $$, h, download, fmtNumber, fmtTime, toast, typeClass } from './dom.js';

let controller = null;
let lastKey = '';
// cursors are the cursors of the pages before the current one, for "Previous"; only known when the pages were
// walked in this tab (a shared URL starts mid-way with "First page" only).
let cursors = [];

function sortOf(opts) {
  return { by: opts.sort_by || '', order: (opts.sort_order || (opts.sort_by ? 'asc' : 'desc')).toLowerCase() };
}

export function init(ctx) {
  $('#ex-sort').addEventListener('change', (e) => {
    const [by, order] = e.target.value.split(':');
    ctx.navigate({ opts: { ...ctx.state.opts, sort_by: by || '', sort_order: order || '', cursor: '' } });
  });
  $('#ex-size').addEventListener('change', (e) => {
    ctx.navigate({ opts: { ...ctx.state.opts, page_size: e.target.value, cursor: '' } });
  });
  for (const th of $$('#ex-table th[data-sort]')) {
    const label = th.textContent;
    th.replaceChildren(h('button', {
      type: 'button', class: 'sort',
      onclick: () => {
        const cur = sortOf(ctx.state.opts);
        const by = th.dataset.sort;
        const order = cur.by === by ? (cur.order === 'asc' ? 'desc' : 'asc') : (by === 'timestamp' ? 'desc' : 'asc');
        ctx.navigate({ opts: { ...ctx.state.opts, sort_by: by, sort_order: order, cursor: '' } });
      },
    }, label, h('span', { class: 'arrow', 'aria-hidden': 'true' })));
  }
  $('#ex-first').addEventListener('click', () => {
    cursors = [];
    ctx.navigate({ opts: { ...ctx.state.opts, cursor: '' } });
  });
  $('#ex-prev').addEventListener('click', () => {
    const prev = cursors.pop();
    ctx.navigate({ opts: { ...ctx.state.opts, cursor: prev || '' } });
  });
  $('#ex-next').addEventListener('click', (e) => {
    const next = e.currentTarget.dataset.cursor;
    if (!next) return;
    cursors.push(ctx.state.opts.cursor || '');
    ctx.navigate({ opts: { ...ctx.state.opts, cursor: next } });
  });
  $('#export').addEventListener('click', () => exportEvents(ctx));
}

export function show(ctx) {
  const { opts, filters } = ctx.state;
  const sort = sortOf(opts);
  const key = JSON.stringify([filters, opts.sort_by, opts.sort_order, opts.page_size]);
  if (key !== lastKey || !opts.cursor) cursors = [];
  lastKey = key;
  const sel = $('#ex-sort');
  const want = opts.sort_by ? `${opts.sort_by}:${sort.order}` : '';
  sel.value = want;
  if (sel.selectedIndex < 0) { // a column header's order that the list does not name: add it
    sel.append(h('option', { value: want }, `${opts.sort_by.replace(/_/g, ' ')} (${sort.order === 'asc' ? 'ascending' : 'descending'})`));
    sel.value = want;
  }
  $('#ex-size').value = opts.page_size || '50';
  for (const th of $$('#ex-table th[data-sort]')) {
    if (th.dataset.sort === sort.by) th.setAttribute('aria-sort', sort.order === 'asc' ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
  load(ctx);
}

export function hide() {
  controller?.abort();
}

function params(ctx) {
  const { opts, filters } = ctx.state;
  return {
    ...filters,
    sort_by: opts.sort_by, sort_order: opts.sort_by ? sortOf(opts).order : '',
    page_size: opts.page_size || 50, cursor: opts.cursor,
  };
}

async function load(ctx) {
  controller?.abort();
  controller = new AbortController();
  const err = $('#ex-error');
  $('#ex-table').setAttribute('aria-busy', 'true');
  try {
    const data = await ctx.api.get('/logs/filter', params(ctx), { signal: controller.signal });
    err.hidden = true;
    renderRows(ctx, data.logs || []);
    const total = data.total_count;
    const approx = data.total_is_estimate ? '≈ ' : '';
    $('#ex-count').textContent = total >= 0
      ? `${approx}${fmtNumber(total)} event${total === 1 ? '' : 's'}` : `${(data.logs || []).length} shown`;
    const next = $('#ex-next');
    next.dataset.cursor = data.next_cursor || '';
    next.disabled = !data.next_cursor;
    $('#ex-first').disabled = !ctx.state.opts.cursor;
    $('#ex-prev').disabled = !ctx.state.opts.cursor || cursors.length === 0;
    $('#ex-page').textContent = ctx.state.opts.cursor
      ? (cursors.length ? `Page ${cursors.length + 1}` : 'Later page') : 'Page 1';
  } catch (e) {
    if (e.name === 'AbortError') return;
    const msg = ctx.failed(e);
    if (!msg) return;
    err.textContent = e instanceof ApiError && e.status === 400 ? `The filters are not valid: ${msg}` : `Could not load events: ${msg}`;
    err.hidden = false;
    renderRows(ctx, []);
  } finally {
    $('#ex-table').removeAttribute('aria-busy');
  }
}

function shortId(v) {
  if (!v) return h('span', { class: 'muted' }, '–');
  return h('span', { class: 'mono trunc', title: v }, v);
}

/** eventRow renders one event as a table row that opens its detail. */
function renderRows(ctx, logs) {
  const body = $('#ex-rows');
  if (!logs.length) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No events match these filters.')));
    return;
  }
  body.replaceChildren(...logs.map((ev) => {
    const tr = h('tr', {
      tabindex: 0, class: 'row', 'aria-label': `${ev.event_name}, ${ev.event_type}, ${fmtTime(ev.timestamp)}`,
      onclick: () => ctx.showDetail(ev),
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ctx.showDetail(ev); } },
    },
    h('td', { class: 'nowrap', 'data-label': 'Time', title: ev.timestamp }, fmtTime(ev.timestamp)),
    h('td', { 'data-label': 'Type' }, h('span', { class: `badge ${typeClass(ev.event_type)}` }, ev.event_type)),
    h('td', { 'data-label': 'Name', class: 'name' }, ev.event_name),
    h('td', { 'data-label': 'User' }, shortId(ev.user_id)),
    h('td', { 'data-label': 'Session' }, shortId(ev.session_id)),
    h('td', { 'data-label': 'Version' }, ev.app_version || h('span', { class: 'muted' }, '–')),
    h('td', { 'data-label': 'Priority' }, h('span', { class: `badge p-${ev.priority}` }, ev.priority || 'normal')));
    return tr;
  }));
}

// --- export --------------------------------------------------------------------------------------------------

const CSV_COLUMNS = ['event_id', 'timestamp', 'received_at', 'event_type', 'event_name', 'user_id', 'session_id',
  'app_version', 'priority', 'sequence_number', 'properties', 'device_info'];

function csvCell(v) {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) || /^[=+\-@\t\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function filenameOf(resp, format) {
  const cd = resp.headers.get('Content-Disposition') || '';
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  if (m) return decodeURIComponent(m[1]);
  return `logingest-${new Date().toISOString().replace(/[:.]/g, '-')}.${format}`;
}

/** MAX_CLIENT_EXPORT bounds the fallback export that pages through /logs/filter in the browser. */
const MAX_CLIENT_EXPORT = 50000;

async function exportEvents(ctx) {
  const format = $('#ex-format').value;
  const btn = $('#export');
  btn.disabled = true;
  btn.textContent = 'Exporting…';
  const { filters, opts } = ctx.state;
  try {
    let blob;
    let name;
    try {
      const resp = await ctx.api.fetch('/logs/export', {
        format, ...filters, sort_by: opts.sort_by, sort_order: opts.sort_by ? sortOf(opts).order : '',
      }, { headers: { Accept: format === 'csv' ? 'text/csv' : 'application/x-ndjson' } });
      name = filenameOf(resp, format);
      blob = await resp.blob();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      ({ blob, name } = await exportInBrowser(ctx, format));
    }
    download(blob, name);
    toast(`Exported ${name}`);
  } catch (err) {
    const msg = ctx.failed(err);
    if (msg) toast(`Export failed: ${msg}`, 'error');
  } finally {
    btn.disabled = false;
    btn.textContent = 'Export';
  }
}

/** exportInBrowser pages through /logs/filter for servers without /logs/export (at most MAX_CLIENT_EXPORT rows). */
async function exportInBrowser(ctx, format) {
  const lines = format === 'csv' ? [CSV_COLUMNS.join(',')] : [];
  let cursor = '';
  let n = 0;
  do {
    const data = await ctx.api.get('/logs/filter', { ...ctx.state.filters, page_size: 1000, cursor });
    for (const ev of data.logs || []) {
      lines.push(format === 'csv' ? CSV_COLUMNS.map((c) => csvCell(ev[c])).join(',') : JSON.stringify(ev));
      n++;
    }
    cursor = data.next_cursor || '';
  } while (cursor && n < MAX_CLIENT_EXPORT);
  const type = format === 'csv' ? 'text/csv' : 'application/x-ndjson';
  return {
    blob: new Blob([lines.join('\n') + '\n'], { type }),
    name: `logingest-${new Date().toISOString().replace(/[:.]/g, '-')}.${format}`,
  };
}
