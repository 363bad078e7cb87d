// The console's whole state lives in the URL fragment, so any view can be bookmarked and shared:
//   #/explorer?event_type=error&search=timeout&sort_by=timestamp&sort_order=desc&page_size=50
// The API key is never part of it.

export const VIEWS = ['dashboard', 'explorer', 'tail'];

/** FILTER_KEYS are the filter parameters of GET /api/v1/logs/filter, shared by every view. */
export const FILTER_KEYS = [
  'search', 'event_type', 'event_name', 'user_id', 'session_id', 'app_version', 'priority', 'provider_name',
  'start_time', 'end_time',
];

const VIEW_KEYS = {
  dashboard: ['range', 'from', 'to'],
  explorer: ['sort_by', 'sort_order', 'page_size', 'cursor'],
  tail: [],
};

export const RANGES = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };

/** parse reads the state from a location hash. */
export function parse(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2);
  const view = VIEWS.includes(path) ? path : 'dashboard';
  const q = new URLSearchParams(qs || '');
  const filters = {};
  for (const k of FILTER_KEYS) {
    const v = q.get(k);
    if (v) filters[k] = v;
  }
  const opts = {};
  for (const keys of Object.values(VIEW_KEYS)) {
    for (const k of keys) {
      const v = q.get(k);
      if (v) opts[k] = v;
    }
  }
  return { view, filters, opts };
}

/** format writes a state as a location hash; only the current view's options are kept. */
export function format(state) {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (state.filters[k]) q.set(k, state.filters[k]);
  for (const k of VIEW_KEYS[state.view] || []) if (state.opts[k]) q.set(k, state.opts[k]);
  const qs = q.toString();
  return `#/${state.view}${qs ? `?${qs}` : ''}`;
}
