// Panel apps (pure): where the console may frame an app and post its context, when to ask for
// fresh tokens, and the admin form's request bodies. The screens are screens/panel-apps.js (the
// customer panel's tabs) and screens/admin-panel-apps.js (their registration).

/** Tokens live 5 minutes; fresh ones are asked for a minute before, at most 4 minutes apart. */
export const REFRESH_BEFORE_MS = 60_000;
export const REFRESH_MIN_MS = 10_000;
export const REFRESH_MAX_MS = 240_000;

/**
 * The origin the console frames and posts the token to (`https://crm.example.com`), or null
 * when the app may not be shown: not http(s), or on the console's own origin (a frame of the
 * console's origin with scripts and its own origin could lift its own sandbox).
 */
export function frameOrigin(url, consoleOrigin) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
  if (parsed.origin === consoleOrigin) return null;
  return parsed.origin;
}

/** How long until the apps' tokens (`expires_at`, Unix seconds) are asked for again. */
export function refreshDelay(apps, nowMs) {
  const expiries = (apps || []).map((a) => Number(a && a.expires_at) * 1000).filter((x) => Number.isFinite(x) && x > 0);
  if (!expiries.length) return REFRESH_MAX_MS;
  const due = Math.min(...expiries) - REFRESH_BEFORE_MS - nowMs;
  return Math.min(REFRESH_MAX_MS, Math.max(REFRESH_MIN_MS, due));
}

/** Whether a window message is the app's frame asking for its context. */
export function isReady(event, frameWindow, origin) {
  return !!event && !!frameWindow && event.source === frameWindow && event.origin === origin
    && !!event.data && typeof event.data === 'object' && event.data.type === 'switchboard.ready';
}

/** The context message the console posts an app. */
export function contextMessage(token) {
  return { type: 'switchboard.context', token };
}

/** The admin form of an app (or of a new one). */
export function panelAppForm(app) {
  return { name: (app && app.name) || '', url: (app && app.url) || 'https://', teams: [...((app && app.teams) || [])] };
}

/**
 * The request body of the form: `{name, url, teams}` for a new app; for a change, only what
 * changed (null when nothing did). The server checks the rest.
 */
export function panelAppBody(form, before) {
  const next = { name: String(form.name || '').trim(), url: String(form.url || '').trim(), teams: [...(form.teams || [])].sort() };
  if (!before) return next;
  const body = {};
  if (next.name !== before.name) body.name = next.name;
  if (next.url !== before.url) body.url = next.url;
  const old = [...(before.teams || [])].sort();
  if (next.teams.join('\n') !== old.join('\n')) body.teams = next.teams;
  return Object.keys(body).length ? body : null;
}
