// REST calls: JSON in and out, the bearer token, and one error type carrying the API's
// `{"error": {"code", "message"}}`, the HTTP status and Retry-After.

let token = null;
let onUnauthorized = null;

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function setToken(value) {
  token = value;
}

/** Called when a request with a token gets 401: the session is over. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** `?a=1&b=2` from an object, skipping null and undefined. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}

function retryAfterSeconds(res) {
  const raw = res.headers.get('Retry-After');
  if (!raw) return null;
  const n = Number(raw);
  if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : null;
}

/** One request; resolves to the parsed body (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError(0, 'network', e && e.message);
  }
  let data = null;
  // Read even an empty body: a response left unread counts as an aborted request.
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const e = new ApiError(res.status, err.code || 'http_' + res.status, err.message || res.statusText, retryAfterSeconds(res));
    if (res.status === 401 && token && onUnauthorized) onUnauthorized(e);
    throw e;
  }
  return data;
}
