// End-to-end test of the logingest web console in a real headless Chromium (Debian's, never a downloaded one),
// driven by playwright-core. cmd/logserver's TestConsoleE2E starts a real logserver, ingests testdata/events.ndjson
// and runs this script with:
//   CONSOLE_URL   the server's base URL (http://127.0.0.1:PORT)
//   READ_KEY      a key with the ingest and read scopes
//   INGEST_KEY    a key with the ingest scope only
//   CHROMIUM_PATH the browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR where screenshots go (default ./screenshots)
//   LABEL         a prefix for screenshot names (e.g. sqlite, postgres)
// It exits non-zero on the first failed check and prints one "E2E-RESULT {json}" line on success.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const base = (process.env.CONSOLE_URL || '').replace(/\/+$/, '');
const readKey = process.env.READ_KEY;
const ingestKey = process.env.INGEST_KEY;
const label = process.env.LABEL || 'console';
const shots = process.env.SCREENSHOT_DIR || path.join(path.dirname(new URL(import.meta.url).pathname), 'screenshots');
assert.ok(base && readKey && ingestKey, 'CONSOLE_URL, READ_KEY and INGEST_KEY must be set');

const result = { checks: [], capabilities: {} };
const started = Date.now();
function passed(name, extra) {
  result.checks.push(name);
  console.log(`ok - ${name}${extra ? ` (${extra})` : ''} [${((Date.now() - started) / 1000).toFixed(1)} s]`);
}

// --- the API, called directly to know what the console should show -------------------------------------------
async function api(p, { key = readKey, method = 'GET', body } = {}) {
  const resp = await fetch(base + '/api/v1' + p, {
    method, headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body),
  });
  let json = null;
  try { json = await resp.json(); } catch { /* not JSON */ }
  return { status: resp.status, json, data: json?.data, retryAfter: Number(resp.headers.get('Retry-After')) || 1 };
}
async function count(params) {
  const r = await api('/logs/filter?' + new URLSearchParams({ ...params, page_size: '1' }));
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.data.total_count;
}
async function probe(p) {
  const ctl = new AbortController();
  const resp = await fetch(base + '/api/v1' + p, { headers: { 'X-API-Key': readKey }, signal: ctl.signal });
  ctl.abort();
  return resp.status;
}
// ingest sends one event as the app does: a 503 (retryable: the store timed out or the server is overloaded, as
// on a loaded CI machine) is resent after its Retry-After, for up to two minutes; any other answer must be 201.
async function ingest(event) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await api('/ingest', { method: 'POST', body: event });
    if (r.status !== 503 || Date.now() > deadline) {
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return;
    }
    console.log(`  (ingest answered 503 ${r.json?.code}; resending as the app would)`);
    await new Promise((resolve) => setTimeout(resolve, 1000 * Math.min(5, r.retryAfter)));
  }
}
const digits = (s) => Number(String(s).replace(/[^\d]/g, ''));

const total = await count({});
assert.ok(total > 0, 'the server holds the ingested events');
const caps = {
  dashboard: (await probe('/dashboard')) === 200,
  search: (await count({ search: 'zz-no-such-text-e2e' })) === 0,
  stream: (await probe('/logs/stream')) === 200,
  export: (await probe('/logs/export?format=ndjson')) === 200,
};
result.capabilities = caps;
console.log('server capabilities:', JSON.stringify(caps));

// --- browser ---------------------------------------------------------------------------------------------------
await mkdir(shots, { recursive: true });
const profile = await mkdtemp(path.join(tmpdir(), 'logingest-e2e-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  acceptDownloads: true,
  viewport: { width: 1360, height: 900 },
  colorScheme: 'light',
  locale: 'en-GB',
  timezoneId: 'UTC',
});
const problems = []; // page errors, CSP violations, failed console requests
const requested = [];
function watch(page) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[13]|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
    if (/Content Security Policy|Trusted Type/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('request', (r) => requested.push(r.url()));
}
const shot = async (page, name, opts = {}) => {
  await settled(page);
  await page.screenshot({ path: path.join(shots, `${label}-${name}.png`), ...opts });
};
// settled waits until no view is loading (nothing aria-busy), so checks and screenshots see final content.
const settled = (page) => page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
// a11y runs axe-core's WCAG 2.1 A and AA rules (contrast, labels, names, roles) on the page as it is.
const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
async function a11y(page, name) {
  await settled(page);
  if (!await page.evaluate(() => 'axe' in window)) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const res = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return res.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
  });
  assert.deepEqual(violations, [], `accessibility violations on ${name}`);
  result.a11yChecked = (result.a11yChecked || 0) + 1;
}
// clean hides a lingering toast before a screenshot meant for the documentation.
const clean = (page) => page.evaluate(() => { document.getElementById('toast').hidden = true; });

try {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = context.pages()[0] || await context.newPage();
  watch(page);

  // --- the console is served at /ui/ and / redirects there -----------------------------------------------------
  const resp = await page.goto(base + '/');
  assert.match(page.url(), /\/ui\/$/, 'GET / redirects to the console');
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  await page.locator('#signin').waitFor();
  await shot(page, '01-signin');
  await a11y(page, 'sign-in');
  passed('console served at /ui/ with a strict CSP');

  // --- sign-in: wrong key, key without read scope, then the read key --------------------------------------------
  await page.fill('#key', 'lk_000000000000_not-a-key');
  await page.click('#signin-submit');
  await page.locator('#signin-error:text("not accepted")').waitFor();
  await page.fill('#key', ingestKey);
  await page.click('#signin-submit');
  await page.locator('#signin-error:text("lacks the read scope")').waitFor();
  assert.equal(await page.locator('#app').isHidden(), true, 'no broken app behind the message');
  await shot(page, '02-no-read-scope');
  passed('unknown key and key without read scope get clear messages');

  await page.fill('#key', readKey);
  await page.click('#signin-submit');
  await page.locator('#view-dashboard').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('logingest.console.key')), readKey, 'key in sessionStorage');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  passed('sign-in keeps the key in sessionStorage');

  // --- the console's own modules, in the page: the SSE parser and the URL state ----------------------------------
  const units = await page.evaluate(async () => {
    const { SSEParser } = await import('./js/sse.js');
    const { parse, format } = await import('./js/state.js');
    const p = new SSEParser();
    const got = [];
    for (const chunk of ['id: 1\r', '\nevent: log\ndata: {"a"', ':1}\n', '\n: heartbeat\n\n', 'data: a\ndata: b\n\n',
      'id: 2\ndata: half']) got.push(...p.push(chunk));
    const afterHalf = p.lastEventId; // the half-received block must not move the resume point
    got.push(...p.push('\r\r\n'));
    const state = parse('#/explorer?event_type=error&search=a%20b&sort_by=event_name&range=24h&cursor=xyz');
    return { got, afterHalf, last: p.lastEventId, state, hash: format(state) };
  });
  assert.deepEqual(units.got, [
    { event: 'log', data: '{"a":1}', id: '1' }, { event: 'message', data: 'a\nb', id: '1' },
    { event: 'message', data: 'half', id: '2' }]);
  assert.equal(units.afterHalf, '1');
  assert.equal(units.last, '2');
  assert.deepEqual(units.state.filters, { event_type: 'error', search: 'a b' });
  assert.equal(units.hash, '#/explorer?search=a+b&event_type=error&sort_by=event_name&cursor=xyz', 'only the view\'s options are kept');
  passed('SSE parser (chunks, CRLF, comments, multi-line data, resume id) and URL state');

  // --- dashboard ------------------------------------------------------------------------------------------------
  await page.waitForFunction((n) => document.querySelector('[data-metric="total_logs"] .value').textContent.replace(/\D/g, '') === String(n), total);
  // Every card has a value; a server without /api/v1/dashboard shows what /api/v1/metrics has.
  const metrics = (await api('/metrics')).data;
  const cards = ['logs_last_hour', 'logs_last_day', 'error_rate_percent', 'average_latency_ms', 'active_sessions', 'active_users']
    .filter((m) => caps.dashboard || m in metrics || m.replace('logs_', '') in metrics);
  assert.ok(cards.length >= 4);
  for (const m of cards) {
    const v = await page.locator(`[data-metric="${m}"] .value`).textContent();
    assert.notEqual(v.trim(), '–', `card ${m} has a value`);
  }
  if (caps.dashboard) {
    assert.ok(digits(await page.locator('[data-metric="logs_last_day"] .value').textContent()) > 0, 'last day count');
    assert.ok(await page.locator('#c-timeline rect.bar').count() > 0, 'timeline has bars');
    assert.ok(await page.locator('#c-timeline rect.bar-err').count() > 0, 'timeline shows errors');
    assert.ok(await page.locator('#c-event_types circle.arc').count() >= 5, 'event type donut has every type');
    for (const c of ['priorities', 'top_event_names', 'app_versions', 'platforms']) {
      assert.ok(await page.locator(`#c-${c} .bars li`).count() > 0, `chart ${c} has data`);
    }
    // The range buttons and a custom range change the query and the timeline.
    await page.click('#ranges [data-range="30d"]');
    await page.waitForURL(/range=30d/);
    await page.locator('#ranges [data-range="30d"][aria-pressed="true"]').waitFor();
    await page.click('#ranges [data-range="custom"]');
    await page.fill('#d-from', '2020-01-01T00:00');
    await page.fill('#d-to', '2020-01-02T00:00');
    await page.click('#d-apply');
    await page.waitForURL(/range=custom&from=2020-01-01/);
    await page.locator('#c-timeline .empty').waitFor(); // nothing happened on that day
    await page.locator('#timeline-range:has-text("2020")').waitFor();
    passed('dashboard: every card and chart has data');
  } else {
    assert.ok(await page.locator('#c-event_types circle.arc').count() > 0, 'event type chart from /metrics');
    assert.ok(await page.locator('#c-top_event_names .bars li').count() > 0, 'top names from /metrics');
    assert.match(await page.locator('#dash-notice').textContent(), /no \/api\/v1\/dashboard/);
    passed('dashboard (server without /api/v1/dashboard): cards and charts from /api/v1/metrics');
  }
  await page.click('#ranges [data-range="24h"]');
  await page.waitForURL(/range=24h/);
  await page.waitForFunction(() => document.querySelector('#updated').textContent !== '');
  await shot(page, '03-dashboard', { fullPage: true });
  await a11y(page, 'dashboard');

  // Clicking a distribution entry filters the dashboard.
  await page.locator('#c-event_types button:text-is("error")').click();
  await page.waitForURL(/event_type=error/);
  await page.locator('#chips li:has-text("error")').waitFor();
  passed('a chart entry applies its filter');

  // --- explorer: filters --------------------------------------------------------------------------------------
  await page.click('#nav a[data-view="explorer"]');
  await page.waitForURL(/#\/explorer\?event_type=error/);
  const errors = await count({ event_type: 'error' });
  await page.waitForFunction((n) => document.querySelector('#ex-count').textContent.replace(/\D/g, '') === String(n), errors);
  const badges = await page.locator('#ex-rows td[data-label="Type"] .badge').allTextContents();
  assert.equal(badges.length, Math.min(errors, 50));
  assert.ok(badges.every((b) => b === 'error'), 'only error events');
  passed('explorer: the dashboard filter carries over', `${errors} errors`);

  await page.click('#filters-toggle');
  await page.selectOption('#f-event_type', '');
  await page.selectOption('#f-priority', 'high');
  await page.click('#filters button[type="submit"]');
  await page.waitForURL((u) => u.hash.includes('priority=high') && !u.hash.includes('event_type'));
  const high = await count({ priority: 'high' });
  await page.waitForFunction((n) => document.querySelector('#ex-count').textContent.replace(/\D/g, '') === String(n), high);
  assert.ok((await page.locator('#ex-rows td[data-label="Priority"] .badge').allTextContents()).every((p) => p === 'high'));
  passed('explorer: filter form (priority)', `${high} high`);

  // --- search -------------------------------------------------------------------------------------------------
  await page.click('#filters-clear');
  await page.waitForURL((u) => !u.hash.includes('priority'));
  const term = 'sync_finished';
  await page.fill('#f-search', term);
  await page.press('#f-search', 'Enter');
  await page.waitForURL(/search=sync_finished/);
  const found = await count({ search: term });
  await page.waitForFunction((n) => document.querySelector('#ex-count').textContent.replace(/\D/g, '') === String(n), found);
  if (caps.search) {
    assert.ok(found > 0 && found < total, `search narrows the results (${found} of ${total})`);
    const names = await page.locator('#ex-rows td[data-label="Name"]').allTextContents();
    assert.ok(names.length > 0);
    passed('search narrows the explorer', `${found} matches for ${term}`);
  } else {
    passed('search is sent as the search parameter (this server ignores it)');
  }
  await shot(page, '04-explorer-search');

  // --- detail, copy, all events of this session ------------------------------------------------------------------
  await page.click('#filters-clear');
  await page.waitForURL((u) => !u.hash.includes('search'));
  await page.waitForFunction((n) => document.querySelector('#ex-count').textContent.replace(/\D/g, '') === String(n), total);
  const first = (await api('/logs/filter?page_size=1')).data.logs[0];
  await page.locator('#ex-rows tr.row').first().click();
  const dialog = page.locator('dialog#detail[open]');
  await dialog.waitFor();
  assert.match(await page.locator('#detail-json').textContent(), new RegExp(first.event_id));
  await page.click('#detail-copy');
  await page.locator('#toast:text("copied")').waitFor();
  const copied = JSON.parse(await page.evaluate(() => navigator.clipboard.readText()));
  assert.equal(copied.event_id, first.event_id, 'the copied JSON is the event');
  await shot(page, '05-detail');
  await a11y(page, 'event detail');
  passed('event detail with pretty JSON and copy');

  // Pick an event with a session to follow.
  const withSession = (await api('/logs/filter?page_size=100')).data.logs.find((e) => e.session_id && e.user_id);
  assert.ok(withSession, 'some event has a session and a user');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  const idx = (await api('/logs/filter?page_size=50')).data.logs.findIndex((e) => e.event_id === withSession.event_id);
  assert.ok(idx >= 0);
  const row = page.locator('#ex-rows tr.row').nth(idx);
  await row.focus();
  await page.keyboard.press('Enter'); // keyboard opens the detail too
  await dialog.waitFor();
  await page.click('#detail-session');
  await page.waitForURL((u) => u.hash.includes(`session_id=${encodeURIComponent(withSession.session_id)}`));
  const inSession = await count({ session_id: withSession.session_id });
  await page.waitForFunction((n) => document.querySelector('#ex-count').textContent.replace(/\D/g, '') === String(n), inSession);
  const sessions = await page.locator('#ex-rows td[data-label="Session"] span').evaluateAll((els) => els.map((e) => e.title));
  assert.ok(sessions.length > 0 && sessions.every((s) => s === withSession.session_id), 'only this session');
  passed('one click to every event of a session (keyboard)', `${inSession} events`);

  // The URL holds the state: a new tab with the same URL shows the same view after sign-in.
  const shared = page.url();
  assert.ok(!shared.includes(readKey), 'the key is not in the URL');
  const tab = await context.newPage();
  watch(tab);
  await tab.goto(shared);
  await tab.locator('#signin').waitFor();
  await tab.fill('#key', readKey);
  await tab.press('#key', 'Enter');
  await tab.waitForFunction((n) => document.querySelector('#ex-count')?.textContent.replace(/\D/g, '') === String(n), inSession);
  assert.equal(await tab.inputValue('#f-session_id'), withSession.session_id);
  await tab.close();
  passed('a shared URL restores the view');

  // --- sorting and keyset pagination -----------------------------------------------------------------------------
  await page.goto(base + '/ui/#/explorer?page_size=25');
  if (await page.getAttribute('#filters-toggle', 'aria-expanded') === 'true') await page.click('#filters-toggle');
  await page.locator('#filter-more').waitFor({ state: 'hidden' });
  await page.waitForFunction(() => document.querySelectorAll('#ex-rows tr.row').length === 25);
  await clean(page);
  await shot(page, '04b-explorer');
  await a11y(page, 'explorer');
  await page.click('#ex-table th[data-sort="event_name"] button');
  await page.waitForURL(/sort_by=event_name&sort_order=asc/);
  await page.locator('#ex-table th[data-sort="event_name"][aria-sort="ascending"]').waitFor();
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll('#ex-rows td[data-label="Name"]')].map((td) => td.textContent);
    return names.length === 25 && names.every((n, i) => i === 0 || names[i - 1] <= n);
  });
  const page1 = await page.locator('#ex-rows tr.row').first().getAttribute('aria-label');
  await page.click('#ex-next');
  await page.waitForURL(/cursor=/);
  await page.waitForFunction((p1) => document.querySelector('#ex-rows tr.row')?.getAttribute('aria-label') !== p1 &&
    document.querySelector('#ex-page').textContent === 'Page 2', page1);
  await page.click('#ex-prev');
  await page.waitForFunction((p1) => document.querySelector('#ex-rows tr.row')?.getAttribute('aria-label') === p1, page1);
  await page.click('#ex-table th[data-sort="event_name"] button'); // again: descending
  await page.waitForURL(/sort_by=event_name&sort_order=desc/);
  await page.locator('#ex-table th[data-sort="event_name"][aria-sort="descending"]').waitFor();
  assert.equal(await page.inputValue('#ex-sort'), 'event_name:desc', 'the sort list shows the header\'s order');
  passed('sorting by a column and keyset pagination (next / previous)');

  // --- live tail -----------------------------------------------------------------------------------------------
  await page.click('#nav a[data-view="tail"]');
  await page.locator('#tail-status[data-state="live"]').waitFor();
  const mode = await page.locator('#tail-status').textContent();
  const fresh = (name) => ({
    event_id: `e2e-${name}-${Date.now()}`, timestamp: new Date().toISOString(), event_type: 'error', event_name: name,
    properties: { duration_ms: 42 }, user_id: 'e2e-user', session_id: 'e2e-session', priority: 'high',
  });
  const liveName = `e2e_live_${Date.now()}`;
  await ingest(fresh(liveName));
  // From the 201 on, the event is stored: the stream delivers it at its next poll (every 500 ms). The latency is
  // reported (tailLatencyMs); the wait is generous so that a loaded machine is not mistaken for a broken tail.
  const t0 = Date.now();
  await page.locator(`#tail-list .name:text-is("${liveName}")`).waitFor({ timeout: 60_000 });
  const latency = Date.now() - t0;
  result.tailLatencyMs = latency;
  await shot(page, '06-live-tail');
  await a11y(page, 'live tail');
  passed(`live tail shows a freshly stored event without reloading`, `${latency} ms after its 201, ${mode}`);

  await page.click('#tail-pause');
  await page.locator('#tail-status[data-state="paused"]').waitFor();
  const pausedName = `e2e_paused_${Date.now()}`;
  await ingest(fresh(pausedName));
  assert.equal(await page.locator(`#tail-list .name:text-is("${pausedName}")`).count(), 0, 'not shown while paused');
  await page.click('#tail-pause');
  await page.locator(`#tail-list .name:text-is("${pausedName}")`).waitFor({ timeout: 60_000 });
  passed('pause and resume catch up with events ingested meanwhile');

  // --- export ----------------------------------------------------------------------------------------------------
  await page.goto(base + '/ui/#/explorer?event_type=error');
  const errorsNow = await count({ event_type: 'error' });
  await page.waitForFunction((n) => document.querySelector('#ex-count').textContent.replace(/\D/g, '') === String(n), errorsNow);
  for (const format of ['ndjson', 'csv']) {
    await page.selectOption('#ex-format', format);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    assert.match(dl.suggestedFilename(), new RegExp(`\\.${format}$`));
    const text = await readFile(await dl.path(), 'utf8');
    const lines = text.split('\n').filter((l) => l.trim());
    if (format === 'ndjson') {
      assert.equal(lines.length, errorsNow, 'one line per matching event');
      assert.ok(lines.every((l) => JSON.parse(l).event_type === 'error'));
    } else {
      assert.equal(lines.length, errorsNow + 1, 'a header and one row per event');
      assert.match(lines[0], /event_id/);
    }
    passed(`export ${format} (${caps.export ? 'GET /api/v1/logs/export' : 'in the browser'})`, `${lines.length} lines`);
  }

  // The key was only ever sent in a header.
  assert.ok(requested.length > 0 && requested.every((u) => !u.includes(readKey) && !u.includes(ingestKey)), 'no key in any URL');
  passed('the key never appears in a URL', `${requested.length} requests`);

  // --- phone width and dark mode -----------------------------------------------------------------------------------
  // Phone size and dark mode first, then load: measuring right after a resize could read the previous layout.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(base + '/ui/#/dashboard');
  await page.waitForFunction(() => document.querySelector('#updated').textContent !== '');
  await settled(page);
  // The charts lay themselves out after the data arrives: wait (bounded) until the page fits, then measure; a page
  // that keeps overflowing fails with its width. (Measured at once, CI saw an 844 px overflow once in ~20 runs.)
  await page.waitForFunction(() => document.documentElement.scrollWidth - window.innerWidth <= 1, null, { timeout: 5000 })
    .catch(() => {});
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no horizontal scrolling at phone width (overflow ${overflow}px)`);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 120, `dark background in dark mode (${bg})`);
  await shot(page, '07-dashboard-phone-dark', { fullPage: true });
  await a11y(page, 'dashboard, phone, dark');
  await page.goto(base + '/ui/#/explorer');
  const all = await count({});
  await page.waitForFunction((n) => document.querySelector('#ex-count').textContent.replace(/\D/g, '') === String(n), all);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth) <= 1, 'explorer fits a phone');
  await shot(page, '08-explorer-phone-dark');
  await a11y(page, 'explorer, phone, dark');
  passed('usable at phone width, dark theme');

  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto(base + '/ui/#/dashboard?range=24h');
  await page.waitForFunction(() => document.querySelector('#updated').textContent !== '');
  await shot(page, '09-dashboard-dark', { fullPage: true });

  await page.emulateMedia({ colorScheme: 'light' });
  await page.waitForFunction(() => document.querySelector('#updated').textContent !== '');
  await clean(page);
  await shot(page, '10-dashboard', { fullPage: true });

  // --- sign out --------------------------------------------------------------------------------------------------
  await page.click('#signout');
  await page.locator('#signin').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'sign-out forgets the key');
  passed('sign out');

  passed('accessibility (axe-core, WCAG 2.1 AA) in light and dark', `${result.a11yChecked} views`);
  assert.deepEqual(problems, [], 'no page errors and no CSP violations');
  passed('no page errors, no CSP violations');
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
}
console.log('E2E-RESULT ' + JSON.stringify(result));
