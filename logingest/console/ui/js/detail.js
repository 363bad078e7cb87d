// The event detail dialog: the whole event as pretty JSON, copy, and links to the user's and session's events.
import { $, h, fmtTime, toast } from './dom.js';

let current = null;

/** highlight splits pretty JSON into spans by token kind; text only, never markup. */
function highlight(json) {
  const out = [];
  const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  let last = 0;
  for (const m of json.matchAll(re)) {
    if (m.index > last) out.push(json.slice(last, m.index));
    let cls = 'j-num';
    if (m[1]) cls = m[2] ? 'j-key' : 'j-str';
    else if (m[3]) cls = 'j-bool';
    else if (m[0] === 'null') cls = 'j-null';
    if (m[1] && m[2]) {
      out.push(h('span', { class: cls }, m[1]), m[2]);
    } else {
      out.push(h('span', { class: cls }, m[0]));
    }
    last = m.index + m[0].length;
  }
  out.push(json.slice(last));
  return out;
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (permissions, insecure origin): select the text for a manual copy.
    const sel = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents($('#detail-json'));
    sel.removeAllRanges();
    sel.addRange(range);
    return false;
  }
}

export function init(ctx) {
  const dlg = $('#detail');
  $('#detail-close').addEventListener('click', () => dlg.close());
  dlg.addEventListener('click', (e) => { if (e.target === dlg) dlg.close(); }); // backdrop
  $('#detail-copy').addEventListener('click', async () => {
    if (!current) return;
    const ok = await copy(JSON.stringify(current, null, 2));
    toast(ok ? 'Event JSON copied to the clipboard' : 'Copy was refused: the JSON is selected, press Ctrl+C');
  });
  $('#detail-user').addEventListener('click', () => {
    if (!current?.user_id) return;
    const user = current.user_id;
    dlg.close();
    ctx.showEvents({ user_id: user });
  });
  $('#detail-session').addEventListener('click', () => {
    if (!current?.session_id) return;
    const session = current.session_id;
    dlg.close();
    ctx.showEvents({ session_id: session });
  });
}

export function open(ctx, ev) {
  current = ev;
  $('#detail-title').textContent = ev.event_name || 'Event';
  const meta = $('#detail-meta');
  const rows = [
    ['Event id', ev.event_id], ['Type', ev.event_type], ['Time', fmtTime(ev.timestamp)],
    ['Received', fmtTime(ev.created_at || ev.received_at)], ['User', ev.user_id], ['Session', ev.session_id],
    ['App version', ev.app_version], ['Priority', ev.priority],
  ];
  meta.replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, v)]));
  $('#detail-user').disabled = !ev.user_id;
  $('#detail-session').disabled = !ev.session_id;
  $('#detail-json').replaceChildren(...highlight(JSON.stringify(ev, null, 2)));
  const dlg = $('#detail');
  if (!dlg.open) dlg.showModal();
  $('#detail-close').focus();
}

export function close() {
  const dlg = $('#detail');
  if (dlg.open) dlg.close();
  current = null;
}
