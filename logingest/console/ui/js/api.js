// The API client: every request carries the key in the X-API-Key header, never in the URL.

/** ApiError is a failed API call: status 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/** query builds a query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

function messageOf(status, body) {
  if (body && typeof body === 'object') {
    // The error body is {error, message, details} (or the older {error, code, errors}).
    const details = body.details || body.errors;
    let msg = typeof body.message === 'string' ? body.message : (typeof body.error === 'string' ? body.error : '');
    if (Array.isArray(details) && details.length) {
      msg += `: ${details.map((d) => [d.field, d.reason || d.message].filter(Boolean).join(' ')).join('; ')}`;
    }
    if (msg) return msg;
  }
  return `HTTP ${status}`;
}

export class Api {
  /** @param {string} base the API's /api/v1 path; @param {string} key the API key. */
  constructor(base, key) {
    this.base = base.replace(/\/+$/, '');
    this.key = key;
  }

  /** fetch sends a GET (or init.method) and returns the Response when it is 2xx, else throws ApiError. */
  async fetch(path, params, init = {}) {
    const headers = { 'X-API-Key': this.key, Accept: 'application/json', ...(init.headers || {}) };
    let resp;
    try {
      resp = await fetch(this.base + path + query(params), {
        ...init, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, 'The server cannot be reached. Is logserver running?');
    }
    if (!resp.ok) {
      let body = null;
      try { body = await resp.json(); } catch { /* not JSON */ }
      throw new ApiError(resp.status, messageOf(resp.status, body), body);
    }
    return resp;
  }

  /** get returns the data member of a JSON answer. */
  async get(path, params, init) {
    const resp = await this.fetch(path, params, init);
    const body = await resp.json();
    return body && typeof body === 'object' && 'data' in body ? body.data : body;
  }

  async post(path, value, init = {}) {
    return this.fetch(path, undefined, {
      ...init, method: 'POST', body: JSON.stringify(value), headers: { 'Content-Type': 'application/json' },
    });
  }
}
