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
export function api(method, path, body) {
  if (body === undefined) return send(method, path, undefined, undefined);
  return send(method, path, JSON.stringify(body), 'application/json');
}

/** POST a file as it is (a CSV import) as `type`; answers like `api`. */
export function postFile(path, file, type) {
  return send('POST', path, file, type);
}

async function send(method, path, body, type) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (type) headers['Content-Type'] = type;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body,
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

/**
 * A media file (`GET /api/v1/media/{id}`) as a Blob: `{ state: 'ready', blob }`, or
 * `{ state: 'pending', retryAfter }` (202: still being downloaded), or `{ state: 'unavailable' }`
 * (410, 404). Other failures reject with ApiError.
 */
export async function fetchMedia(id) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch('/api/v1/media/' + encodeURIComponent(id), { headers, cache: 'no-store', credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, 'network', e && e.message);
  }
  if (res.status === 200) return { state: 'ready', blob: await res.blob() };
  await res.text().catch(() => '');
  if (res.status === 202) return { state: 'pending', retryAfter: retryAfterSeconds(res) ?? 2 };
  if (res.status === 410 || res.status === 404) return { state: 'unavailable' };
  throw new ApiError(res.status, 'http_' + res.status, res.statusText, retryAfterSeconds(res));
}

/** A file the API serves (a CSV export) as a Blob, fetched with the token; rejects with ApiError. */
export async function fetchBlob(path) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store', credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, 'network', e && e.message);
  }
  if (res.ok) return res.blob();
  const text = await res.text().catch(() => '');
  let err = {};
  try {
    err = (text && JSON.parse(text).error) || {};
  } catch {
    err = {};
  }
  const e = new ApiError(res.status, err.code || 'http_' + res.status, err.message || res.statusText, retryAfterSeconds(res));
  if (res.status === 401 && token && onUnauthorized) onUnauthorized(e);
  throw e;
}

/**
 * POST a multipart form with upload progress (`onProgress(fraction)`); resolves to the parsed
 * body, rejects with ApiError like `api`.
 */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Accept', 'application/json');
    if (token) xhr.setRequestHeader('Authorization', 'Bearer ' + token);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'));
    xhr.onload = () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
        return;
      }
      const err = data && data.error ? data.error : {};
      const raw = xhr.getResponseHeader('Retry-After');
      const e = new ApiError(xhr.status, err.code || 'http_' + xhr.status, err.message || xhr.statusText, raw ? Number(raw) || null : null);
      if (xhr.status === 401 && token && onUnauthorized) onUnauthorized(e);
      reject(e);
    };
    xhr.send(form);
  });
}
