// The board's and the administration screens' logic with no DOM and no network, tested in
// node (tools/test-admin.mjs): forms to request bodies (a PATCH sends only what changed), the
// audit log's pages, filters and before/after differences, the reload report, wait times.

import { zonedToUtc } from './zoned.js';

/** Marks an i18n key passed on (for tools/check-i18n.mjs); the screens show it with t(). */
const K = (key) => key;

/** The roles, least to most. */
export const ROLES = ['agent', 'supervisor', 'admin'];
/** How a team picks among its agents. */
export const STRATEGIES = ['round_robin', 'least_busy'];
/** The highest capacity the API takes. */
export const MAX_CAPACITY = 100;
/** The shortest password the API takes. */
export const MIN_PASSWORD = 10;
/** The audited actions (docs/CONSOLE_API.md), and their families as prefixes. */
export const AUDIT_ACTIONS = [
  'login.', 'login.success', 'login.failure', 'logout', 'logout.all', 'logout.forced',
  'password.', 'password.change', 'password.reset', 'password.reset_issued',
  'user.', 'user.create', 'user.invite', 'user.update', 'user.role', 'user.deactivate', 'user.unlock',
  'team.', 'team.create', 'team.update', 'team.delete',
  'token.', 'token.create', 'token.revoke',
  'number.reveal', 'presence.force', 'conversation.', 'conversation.reassign', 'conversation.resolve',
  'config.', 'config.reload', 'config.reload_refused',
  'webhook.', 'webhook.create', 'webhook.update', 'webhook.delete', 'webhook.rotate_secret',
  'webhook.replay', 'webhook.replay_range', 'webhook.disable',
];

/** `ms` as a clock: `4:05`, `1:02:03` (hours keep counting past a day). */
export function clockDuration(ms) {
  const total = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** How long the oldest queued conversation has waited at `now` (null: none waiting, or not shown). */
export function oldestWait(team, now) {
  const at = team && team.oldest_arrival;
  return typeof at === 'number' && Number.isFinite(at) ? Math.max(0, now - at) : null;
}

/** How long an agent has had their presence at `now` (null: unknown, as after a restart). */
export function timeInStatus(agent, now) {
  const at = agent && agent.presence_since;
  return typeof at === 'number' && Number.isFinite(at) ? Math.max(0, now - at) : null;
}

/** The board's totals: waiting conversations and agents online, over the teams (an agent counted once). */
export function boardTotals(teams) {
  let waiting = 0;
  const agents = new Map();
  for (const t of teams || []) {
    if (typeof t.queue_length === 'number') waiting += t.queue_length;
    for (const a of t.agents || []) agents.set(a.id, a.presence);
  }
  let online = 0;
  for (const p of agents.values()) if (p === 'online') online += 1;
  return { waiting, online, agents: agents.size };
}

/** Whether the user is locked out at `now`. */
export function isLocked(user, now) {
  return !!user && typeof user.locked_until === 'number' && user.locked_until > now;
}

function sameSet(a, b) {
  const x = [...new Set(a || [])].sort();
  const y = [...new Set(b || [])].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A whole number in `min..max` from a form's text, else null. */
export function wholeNumber(text, min, max) {
  const s = String(text ?? '').trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
}

// --- users -----------------------------------------------------------------------------------

/** A user form's fields, from a user (editing) or blank (creating). */
export function userForm(user) {
  const u = user || {};
  return {
    id: u.id || '',
    name: u.name || '',
    email: u.email || '',
    role: u.role || 'agent',
    language: u.language || 'en',
    time_zone: u.time_zone || 'UTC',
    capacity: String(u.capacity ?? 3),
    teams: [...(u.teams || [])],
    supervises: [...(u.supervises || [])],
    password: '',
    unlock: false,
  };
}

/**
 * The body of a POST (no `before`) or a PATCH (only what differs from `before`) for a user
 * form. Returns `{body}`, or `{error, field}` with an i18n key, or `{body: null}` when a PATCH
 * would change nothing.
 */
export function userBody(form, before) {
  const name = form.name.trim();
  const email = form.email.trim();
  const id = form.id.trim();
  if (!before && id && !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(id)) return { error: K('admin.error_id'), field: 'id' };
  if (!name) return { error: K('admin.error_name'), field: 'name' };
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return { error: K('admin.error_email'), field: 'email' };
  const capacity = wholeNumber(form.capacity, 0, MAX_CAPACITY);
  if (capacity === null) return { error: K('admin.error_capacity'), field: 'capacity' };
  if (form.password && form.password.length < MIN_PASSWORD) return { error: K('admin.error_password'), field: 'password' };
  const language = form.language.trim();
  const timeZone = form.time_zone.trim();
  const full = { name, email, role: form.role, language, time_zone: timeZone, capacity, teams: [...form.teams], supervises: [...form.supervises] };
  if (!before) {
    const body = { ...full };
    if (id) body.id = id;
    if (!language) delete body.language;
    if (!timeZone) delete body.time_zone;
    if (form.password) body.password = form.password;
    return { body };
  }
  const body = {};
  for (const key of ['name', 'email', 'role', 'language', 'time_zone', 'capacity']) {
    if (full[key] !== before[key] && !(full[key] === '' && (key === 'language' || key === 'time_zone'))) body[key] = full[key];
  }
  if (!sameSet(full.teams, before.teams)) body.teams = full.teams;
  if (!sameSet(full.supervises, before.supervises)) body.supervises = full.supervises;
  if (form.password) body.password = form.password;
  if (form.unlock && before.locked_until != null) body.locked_until = null;
  return { body: Object.keys(body).length ? body : null };
}

// --- teams -----------------------------------------------------------------------------------

/** A team form's fields, from a team (editing) or blank (creating). */
// --- a team's SLA policies --------------------------------------------------------------------

/** The three SLA clocks, in the order the editor shows them. */
export const SLA_CLOCKS = ['first_response', 'next_response', 'resolution'];
/** The units a target is typed in. */
export const SLA_UNITS = ['minutes', 'hours'];
/** The longest target the API takes: 366 days, in seconds. */
export const MAX_SLA_SECONDS = 366 * 86400;
const UNIT_SECONDS = { minutes: 60, hours: 3600 };

/** A target in seconds as the editor shows it: whole hours in hours, else minutes. */
export function slaTarget(seconds) {
  const n = Number(seconds);
  if (!Number.isFinite(n) || n <= 0) return { value: '', unit: 'minutes' };
  if (n % 3600 === 0) return { value: String(n / 3600), unit: 'hours' };
  return { value: String(Math.round((n / 60) * 100) / 100), unit: 'minutes' };
}

/**
 * The editor's rows for a team's policies: one for any priority, then one per priority the
 * routing sets (`priorities`, highest first), and any stored one for a priority no longer set.
 */
export function slaRows(policies, priorities) {
  const stored = Array.isArray(policies) ? policies : [];
  const keys = [...new Set([...(priorities || []), ...stored.map((p) => p.priority).filter((p) => p != null)])]
    .map(Number).filter(Number.isInteger).sort((a, b) => b - a);
  return [null, ...keys].map((priority) => {
    const p = stored.find((x) => (x.priority ?? null) === priority) || {};
    const row = { priority, business_hours: !!p.business_hours };
    for (const clock of SLA_CLOCKS) row[clock] = slaTarget(p[clock + '_seconds']);
    return row;
  });
}

/** The rows as the API's `sla` (a row with no target is no policy), or the first mistake and its field. */
export function slaPolicies(rows) {
  const out = [];
  for (const [i, row] of (rows || []).entries()) {
    const policy = { priority: row.priority ?? null };
    let any = false;
    for (const clock of SLA_CLOCKS) {
      const text = String((row[clock] && row[clock].value) ?? '').trim().replace(',', '.');
      if (!text) {
        policy[clock + '_seconds'] = null;
        continue;
      }
      const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
      const seconds = Math.round(n * (UNIT_SECONDS[row[clock].unit] || 60));
      if (!(seconds > 0)) return { error: K('admin.sla_error_positive'), field: `sla-${i}-${clock}` };
      if (seconds > MAX_SLA_SECONDS) return { error: K('admin.sla_error_max'), field: `sla-${i}-${clock}` };
      policy[clock + '_seconds'] = seconds;
      any = true;
    }
    if (!any) continue;
    policy.business_hours = !!row.business_hours;
    out.push(policy);
  }
  return { policies: out };
}

/** Policies in one order with every field, to compare two sets. */
function slaKey(policies) {
  return JSON.stringify((policies || []).map((p) => [
    p.priority ?? null, p.first_response_seconds ?? null, p.next_response_seconds ?? null,
    p.resolution_seconds ?? null, !!p.business_hours,
  ]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
}

export function teamForm(team, priorities) {
  const t = team || {};
  const overflow = t.overflow && typeof t.overflow === 'object' ? t.overflow : null;
  return {
    id: t.id || '',
    name: t.name || '',
    description: t.description || '',
    strategy: t.strategy || 'round_robin',
    offer_timeout_seconds: String(t.offer_timeout_seconds ?? 0),
    overflow_team: (overflow && overflow.team) || '',
    overflow_after: overflow && overflow.after_seconds ? String(overflow.after_seconds) : '',
    max_queue: String(t.max_queue ?? 10000),
    private: !!t.private,
    mask_numbers: t.mask_numbers === true ? 'true' : t.mask_numbers === false ? 'false' : '',
    members: [...(t.members || [])],
    supervisors: [...(t.supervisors || [])],
    sla: slaRows(t.sla, priorities),
  };
}

/** Like `userBody`, for a team form. */
export function teamBody(form, before) {
  const id = form.id.trim();
  const name = form.name.trim();
  if (!before && !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(id)) return { error: K('admin.error_id'), field: 'id' };
  if (!name) return { error: K('admin.error_name'), field: 'name' };
  const timeout = wholeNumber(form.offer_timeout_seconds, 0, 3600);
  if (timeout === null) return { error: K('admin.error_timeout'), field: 'offer_timeout_seconds' };
  const maxQueue = wholeNumber(form.max_queue, 1, 1_000_000);
  if (maxQueue === null) return { error: K('admin.error_max_queue'), field: 'max_queue' };
  let overflow = null;
  if (form.overflow_team) {
    if (form.overflow_team === (before ? before.id : id)) return { error: K('admin.error_overflow_team'), field: 'overflow_team' };
    const after = wholeNumber(form.overflow_after, 1, 1_000_000_000);
    if (after === null) return { error: K('admin.error_overflow_after'), field: 'overflow_after' };
    overflow = { team: form.overflow_team, after_seconds: after };
  }
  const sla = slaPolicies(form.sla);
  if (sla.error) return sla;
  const mask = form.mask_numbers === 'true' ? true : form.mask_numbers === 'false' ? false : null;
  const description = form.description.trim() || null;
  const full = {
    name,
    description,
    strategy: form.strategy,
    offer_timeout_seconds: timeout,
    overflow,
    max_queue: maxQueue,
    private: !!form.private,
    mask_numbers: mask,
    members: [...form.members],
    supervisors: [...form.supervisors],
  };
  if (!before) {
    const body = { id, ...full };
    if (!overflow) delete body.overflow;
    if (mask === null) delete body.mask_numbers;
    if (description === null) delete body.description;
    if (sla.policies.length) body.sla = sla.policies;
    return { body };
  }
  const body = {};
  for (const key of ['name', 'strategy', 'offer_timeout_seconds', 'max_queue', 'private']) {
    if (full[key] !== before[key]) body[key] = full[key];
  }
  if (description !== (before.description ?? null)) body.description = description;
  if (mask !== (before.mask_numbers ?? null)) body.mask_numbers = mask;
  const was = before.overflow || null;
  if (JSON.stringify(overflow) !== JSON.stringify(was && { team: was.team, after_seconds: was.after_seconds })) body.overflow = overflow;
  if (!sameSet(full.members, before.members)) body.members = full.members;
  if (!sameSet(full.supervisors, before.supervisors)) body.supervisors = full.supervisors;
  if (slaKey(sla.policies) !== slaKey(before.sla)) body.sla = sla.policies;
  return { body: Object.keys(body).length ? body : null };
}

// --- audit -----------------------------------------------------------------------------------

/** `YYYY-MM-DDTHH:MM` (an `<input type=datetime-local>`) as the instant it is in `timeZone`; null if blank or malformed. */
export function localInputToMs(text, timeZone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(text || ''));
  if (!m) return null;
  const [y, mo, d, h, mi] = m.slice(1).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59) return null;
  return zonedToUtc(y, mo, d, h, mi, timeZone);
}

/** The audit request's parameters from the filter form (times read in `timeZone`), and the page before `before`. */
export function auditParams(filter, timeZone, before = null) {
  const f = filter || {};
  const params = { limit: 50 };
  const actor = (f.actor || '').trim();
  const action = (f.action || '').trim();
  if (actor) params.actor = actor;
  if (action) params.action = action;
  const from = localInputToMs(f.from, timeZone);
  const to = localInputToMs(f.to, timeZone);
  if (from !== null) params.from = from;
  if (to !== null) params.to = to;
  if (before !== null && before !== undefined) params.before = before;
  return params;
}

/** A page of entries after those shown (`older`), newest first, each once. */
export function appendEntries(shown, page) {
  const seen = new Set((shown || []).map((e) => e.id));
  const out = [...(shown || [])];
  for (const e of page || []) {
    if (e && !seen.has(e.id)) {
      seen.add(e.id);
      out.push(e);
    }
  }
  return out.sort((a, b) => (b.id ?? 0) - (a.id ?? 0));
}

function isObject(v) {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/**
 * What an audit entry changed: `[{key, before, after}]` for the top-level fields that differ
 * (values as JSON text, `undefined` where absent) when `before` and `after` are both objects,
 * else null (show them whole).
 */
export function auditDiff(before, after) {
  if (!isObject(before) || !isObject(after)) return null;
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const rows = [];
  for (const key of keys) {
    const b = key in before ? JSON.stringify(before[key]) : undefined;
    const a = key in after ? JSON.stringify(after[key]) : undefined;
    if (b !== a) rows.push({ key, before: b, after: a });
  }
  return rows;
}

/** JSON, indented, for a value shown whole. */
export function prettyJson(value) {
  try {
    return JSON.stringify(value, null, 2) ?? '';
  } catch {
    return String(value);
  }
}

// --- reload ----------------------------------------------------------------------------------

/** The reload report as sections to show: `{changed, sections: [{key, added, removed, changed}], routing, needsRestart}`. */
export function reloadSummary(report) {
  const r = report || {};
  const list = (v) => (Array.isArray(v) ? v.map(String) : []);
  const sections = [];
  for (const key of ['flows', 'steps', 'rules']) {
    const c = r[key] || {};
    const s = { key, added: list(c.added), removed: list(c.removed), changed: list(c.changed) };
    if (s.added.length || s.removed.length || s.changed.length) sections.push(s);
  }
  return {
    changed: r.fingerprint !== r.previous_fingerprint,
    fingerprint: r.fingerprint || '',
    previous: r.previous_fingerprint || '',
    sections,
    routing: list(r.routing),
    needsRestart: list(r.needs_restart),
  };
}
