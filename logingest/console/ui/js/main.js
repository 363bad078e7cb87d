// The console's entry point: sign-in, routing between the views, and the shared filter form.
import { Api, ApiError } from './api.js';
import { $, $$, h, fromLocalInput, toLocalInput } from './dom.js';
import { FILTER_KEYS, format, parse } from './state.js';
import * as dashboard from './dashboard.js';
import * as explorer from './explorer.js';
import * as tail from './tail.js';
import * as detail from './detail.js';

const STORAGE_KEY = 'logingest.console.key';
const views = { dashboard, explorer, tail };

const metaAPI = document.querySelector('meta[name="logingest-api"]')?.content || '';
const apiBase = metaAPI.startsWith('/') ? metaAPI : '/api/v1';

const FILTER_LABELS = {
  search: 'Search', event_type: 'Type', event_name: 'Name', user_id: 'User', session_id: 'Session',
  app_version: 'Version', priority: 'Priority', provider_name: 'Provider', start_time: 'From', end_time: 'To',
};

/** ctx is what the views share: the API client, the current state, and navigation. */
const ctx = {
  api: null,
  state: parse(location.hash),
  current: null,

  /** navigate moves to a new state (a new history entry unless replace). */
  navigate(next, { replace = false } = {}) {
    const hash = format({ ...ctx.state, ...next, opts: next.opts ?? ctx.state.opts, filters: next.filters ?? ctx.state.filters });
    if (hash === location.hash) {
      render();
    } else if (replace) {
      history.replaceState(null, '', hash);
      render();
    } else {
      location.hash = hash; // hashchange renders
    }
  },

  /** setFilter changes one filter and keeps the view (dropping the explorer's page cursor). */
  setFilter(key, value) {
    const filters = { ...ctx.state.filters, [key]: value };
    if (!value) delete filters[key];
    const { cursor, ...opts } = ctx.state.opts;
    ctx.navigate({ filters, opts });
  },

  /** showFilters navigates to the explorer with exactly these filters. */
  showEvents(filters) {
    ctx.navigate({ view: 'explorer', filters, opts: {} });
  },

  showDetail(ev) { detail.open(ctx, ev); },

  /** failed handles an API error of a view: a rejected key signs out with a reason; anything else is returned as text. */
  failed(err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      signOut(keyProblem(err.status));
      return null;
    }
    if (err instanceof ApiError && err.status === 429) return 'Too many requests for this key: wait a moment and refresh.';
    return err?.message || String(err);
  },
};

function keyProblem(status) {
  if (status === 403) {
    return 'This API key is valid but lacks the read scope, so it cannot show events. ' +
      'Use a key with the read scope (for example: logserver keys create -name console -scopes read).';
  }
  if (status === 401) return 'This API key is not accepted: it is unknown, expired or revoked.';
  if (status === 429) return 'Too many attempts: wait a minute before trying again.';
  if (status === 0) return 'The server cannot be reached. Is logserver running?';
  return null;
}

function showSignin(message) {
  $('#app').hidden = true;
  $('#nav').hidden = true;
  $('#signout').hidden = true;
  $('#signin').hidden = false;
  const err = $('#signin-error');
  err.textContent = message || '';
  err.hidden = !message;
  document.title = 'Sign in · logingest console';
  $('#key').focus();
}

function signOut(message) {
  sessionStorage.removeItem(STORAGE_KEY);
  ctx.api = null;
  ctx.current?.hide?.();
  ctx.current = null;
  detail.close();
  showSignin(message);
}

async function signIn(key) {
  const api = new Api(apiBase, key);
  // A cheap read (no total count) proves the key and its scope: 401 unknown key, 403 no read scope.
  await api.get('/logs/recent', { limit: 1 });
  sessionStorage.setItem(STORAGE_KEY, key);
  ctx.api = api;
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#nav').hidden = false;
  $('#signout').hidden = false;
  render();
}

function bindSignin() {
  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = $('#key').value.trim();
    if (!key) {
      showSignin('Paste an API key first.');
      return;
    }
    const btn = $('#signin-submit');
    btn.disabled = true;
    btn.textContent = 'Checking…';
    try {
      await signIn(key);
      $('#key').value = '';
    } catch (err) {
      showSignin(keyProblem(err.status) || `Sign-in failed: ${err.message}`);
    } finally {
      btn.disabled = false;
      btn.textContent = 'Sign in';
    }
  });
  $('#signout').addEventListener('click', () => signOut(''));
}

// --- filters -------------------------------------------------------------------------------------------------

function fillFilterForm() {
  const f = ctx.state.filters;
  for (const k of FILTER_KEYS) {
    const el = $(`#f-${k}`);
    if (!el) continue;
    el.value = k === 'start_time' || k === 'end_time' ? toLocalInput(f[k]) : (f[k] || '');
  }
  const chips = $('#chips');
  chips.replaceChildren();
  for (const k of FILTER_KEYS) {
    if (!f[k]) continue;
    const shown = k === 'start_time' || k === 'end_time' ? new Date(f[k]).toLocaleString() : f[k];
    chips.append(h('li', { class: 'chip' },
      h('span', {}, h('b', {}, `${FILTER_LABELS[k]}: `), shown),
      h('button', { type: 'button', 'aria-label': `Remove filter ${FILTER_LABELS[k]} ${shown}`, onclick: () => ctx.setFilter(k, '') }, '✕')));
  }
  chips.hidden = !chips.children.length;
}

function bindFilters() {
  $('#filters').addEventListener('submit', (e) => {
    e.preventDefault();
    const filters = {};
    for (const k of FILTER_KEYS) {
      const el = $(`#f-${k}`);
      const v = k === 'start_time' || k === 'end_time' ? fromLocalInput(el.value) : el.value.trim();
      if (v) filters[k] = v;
    }
    const { cursor, ...opts } = ctx.state.opts;
    ctx.navigate({ filters, opts });
  });
  $('#filters-clear').addEventListener('click', () => {
    const { cursor, ...opts } = ctx.state.opts;
    ctx.navigate({ filters: {}, opts });
  });
  const toggle = $('#filters-toggle');
  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    $('#filter-more').hidden = !open;
  });
}

// --- routing -------------------------------------------------------------------------------------------------

function render() {
  ctx.state = parse(location.hash);
  if (!ctx.api) return;
  const { view } = ctx.state;
  for (const a of $$('#nav a')) {
    const v = a.dataset.view;
    a.href = format({ view: v, filters: ctx.state.filters, opts: v === view ? ctx.state.opts : {} });
    if (v === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  for (const v of Object.keys(views)) $(`#view-${v}`).hidden = v !== view;
  document.title = `${{ dashboard: 'Dashboard', explorer: 'Explorer', tail: 'Live tail' }[view]} · logingest console`;
  fillFilterForm();
  const next = views[view];
  if (ctx.current && ctx.current !== next) ctx.current.hide();
  ctx.current = next;
  next.show(ctx);
}

function boot() {
  bindSignin();
  bindFilters();
  for (const v of Object.values(views)) v.init(ctx);
  detail.init(ctx);
  $('#skip').addEventListener('click', (e) => { e.preventDefault(); $('#main').focus(); });
  window.addEventListener('hashchange', render);
  const key = sessionStorage.getItem(STORAGE_KEY);
  if (!key) {
    showSignin('');
    return;
  }
  signIn(key).catch((err) => {
    if (err instanceof ApiError && err.status !== 0 && err.status < 500 && err.status !== 429) {
      signOut(keyProblem(err.status) || err.message);
    } else {
      // Keep the key: the server is down or overloaded, not the key's fault.
      showSignin(keyProblem(err.status) || err.message);
    }
  });
}

boot();
