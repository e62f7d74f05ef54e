// Campaigns (docs/CAMPAIGNS.md, "Campaigns"), pure: what a synced template asks for (the same
// form as the server's compose::form, from its components), the wizard's fields as the
// CampaignSpec of POST /api/v1/campaigns (and back, to edit a draft into a new one), which
// actions a campaign's state allows, and the counts as figures and shares. Tested by
// tools/test-campaigns.mjs.

import { zonedParts, zonedToUtc } from './zoned.js';

/** Marks a catalog key (the validation's messages) for tools/check-i18n.mjs; no i18n import here. */
const K = (key) => key;

/** A campaign's states, in the order of its life. */
export const STATES = ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled'];

/** Why a contact of the audience gets nothing, in the server's order (campaign::Exclusion). */
export const EXCLUSIONS = [
  'no_number', 'duplicate', 'excluded_segment', 'country_rule', 'no_consent', 'opted_out',
  'frequency_cap', 'missing_parameter',
];

/** The contact's own fields a parameter may take, before the custom ones. */
export const BUILTIN_FIELDS = ['name', 'phone', 'language', 'country'];

/** The longest name, the most excluded segments and the longest cap, as the server takes them. */
export const MAX_NAME = 200;
export const MAX_EXCLUDED = 20;
export const MAX_CAP_DAYS = 365;

/** States whose counts still move by themselves: the live page asks again while in one. */
const LIVE = new Set(['scheduled', 'running']);

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const MEDIA = { IMAGE: 'image', VIDEO: 'video', DOCUMENT: 'document' };

function placeholders(text) {
  const seen = [];
  for (const m of String(text || '').matchAll(PLACEHOLDER)) if (!seen.includes(m[1])) seen.push(m[1]);
  return seen;
}

const upper = (v) => String(v || '').toUpperCase();

/**
 * What a template (as GET /api/v1/templates lists it: `components`, `parameter_format`) asks
 * for, in the shape of the server's form (`{parameter_format, header, body, body_parameters,
 * footer, buttons}`), the one lib/template-form.js reads.
 */
export function formOf(template) {
  const named = upper(template && template.parameter_format) === 'NAMED';
  const form = { parameter_format: named ? 'NAMED' : 'POSITIONAL', header: null, body: '', body_parameters: [], footer: null, buttons: [] };
  const parts = template && Array.isArray(template.components) ? template.components : [];
  for (const c of parts) {
    if (!c || typeof c !== 'object') continue;
    const kind = upper(c.type);
    const text = typeof c.text === 'string' ? c.text : null;
    if (kind === 'HEADER') {
      const format = upper(c.format || 'TEXT');
      form.header = { format, text, parameter: format === 'TEXT' && text ? placeholders(text)[0] || null : null };
    } else if (kind === 'BODY') {
      form.body = text || '';
      const names = placeholders(form.body);
      if (!named) names.sort((a, b) => (Number(a) || Infinity) - (Number(b) || Infinity));
      form.body_parameters = names;
    } else if (kind === 'FOOTER') {
      form.footer = text;
    } else if (kind === 'BUTTONS') {
      (Array.isArray(c.buttons) ? c.buttons : []).forEach((b, index) => {
        const type = upper(b && b.type);
        const url = b && typeof b.url === 'string' ? b.url : null;
        let subType = null;
        let required = false;
        if (type === 'URL' && url && placeholders(url).length) [subType, required] = ['url', true];
        else if (type === 'QUICK_REPLY') [subType, required] = ['quick_reply', false];
        else if (type === 'COPY_CODE') [subType, required] = ['copy_code', true];
        else if (type === 'OTP') [subType, required] = ['url', true];
        form.buttons.push({ index, type, text: (b && typeof b.text === 'string' && b.text) || type, url, sub_type: subType, required });
      });
    }
  }
  return form;
}

/** Whether a campaign can send this template: its header is no location. */
export function sendable(form) {
  return !(form && form.header && form.header.format !== 'TEXT' && !MEDIA[form.header.format]);
}

/**
 * The template's parameters, each a slot the wizard fills: `{key, kind, name?, index?,
 * subType?, format?, text?, required}`. kind: `header-text`, `header-media` (a link or a
 * media id, the same for everyone), `body`, `button`.
 */
export function slotsOf(form) {
  if (!form) return [];
  const slots = [];
  const h = form.header;
  if (h && h.format === 'TEXT' && h.parameter) slots.push({ key: 'header', kind: 'header-text', name: h.parameter, text: h.text || '', required: true });
  else if (h && MEDIA[h.format]) slots.push({ key: 'header', kind: 'header-media', format: h.format, required: true });
  for (const name of form.body_parameters || []) slots.push({ key: 'body:' + name, kind: 'body', name, required: true });
  for (const b of form.buttons || []) {
    if (b.sub_type) slots.push({ key: 'button:' + b.index, kind: 'button', index: b.index, subType: b.sub_type, text: b.text, url: b.url, required: !!b.required });
  }
  return slots;
}

/** The channels (WhatsApp numbers) that have an approved template, sorted. */
export function channelsOf(templates) {
  const set = new Set();
  for (const x of templates || []) if (x && x.status === 'APPROVED' && x.channel) set.add(x.channel);
  return [...set].sort();
}

/** `name/language`: a template's key in the wizard's select. */
export function templateKey(x) {
  return x ? x.name + '/' + x.language : '';
}

/** The approved templates of `channel` that a campaign can send, by name and language. */
export function templatesOf(templates, channel) {
  return (templates || [])
    .filter((x) => x && x.channel === channel && x.status === 'APPROVED' && sendable(formOf(x)))
    .sort((a, b) => templateKey(a).localeCompare(templateKey(b)));
}

/** One parameter's source as the wizard holds it: a contact field with a default, or a fixed value. */
export function emptySource(slot) {
  if (slot && slot.kind === 'header-media') return { kind: 'link', value: '' };
  if (slot && slot.kind === 'button' && !slot.required) return { kind: 'none', field: '', value: '', default: '' };
  return { kind: 'field', field: '', value: '', default: '' };
}

/** The wizard's fields for a new campaign (`timeZone`: the user's, for the window). */
export function emptyForm(timeZone = 'UTC') {
  return {
    name: '',
    channel: '',
    template: '',
    sources: {},
    segment: '',
    exclude: [],
    when: 'now',
    start_at: '',
    window: false,
    window_from: '09:00',
    window_to: '20:00',
    window_tz: timeZone || 'UTC',
    cap: false,
    cap_messages: '1',
    cap_days: '7',
  };
}

/** A whole number from a field, or null. */
function whole(text, min, max) {
  const s = String(text ?? '').trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
}

/** The request's Source of a wizard's source, or null when none is given. */
function sourceBody(src) {
  if (!src || src.kind === 'none') return null;
  if (src.kind === 'value') return { value: String(src.value ?? '') };
  const out = { field: String(src.field || '') };
  if (String(src.default ?? '').trim() !== '') out.default = String(src.default);
  return out;
}

/** `YYYY-MM-DDTHH:MM` (an `<input type=datetime-local>`) as the instant it is in `timeZone`, or null. */
export function localToMs(text, timeZone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(text || ''));
  if (!m) return null;
  const [y, mo, d, h, mi] = m.slice(1).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59) return null;
  return zonedToUtc(y, mo, d, h, mi, timeZone);
}

/** The instant `ms` as `YYYY-MM-DDTHH:MM` on the wall clock of `timeZone` (for the input). */
export function msToLocal(ms, timeZone) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const p = zonedParts(ms, timeZone);
  const two = (n) => String(n).padStart(2, '0');
  return `${p.year}-${two(p.month)}-${two(p.day)}T${two(p.hour)}:${two(p.minute)}`;
}

/**
 * The CampaignSpec of the wizard's fields: `{body}`, or `{error, field}` (a catalog key and
 * the field to focus) for what the server would refuse for sure. Everything else (the window's
 * hours, the zone, the template's state) the server judges, and its 422 says why.
 * `template`: the chosen template (with its components); `now`, `timeZone`: for a start time.
 */
export function campaignBody(form, template, { now = Date.now(), timeZone = 'UTC' } = {}) {
  const f = form || {};
  const fail = (error, field) => ({ error, field });
  const name = String(f.name || '').trim();
  if (!name) return fail(K('campaigns.error_name'), 'name');
  if (name.length > MAX_NAME) return fail(K('campaigns.error_name_long'), 'name');
  if (!f.channel) return fail(K('campaigns.error_channel'), 'channel');
  if (!template) return fail(K('campaigns.error_template'), 'template');
  const tpl = formOf(template);
  const parameters = {};
  const body = {};
  const positional = [];
  const buttons = [];
  for (const slot of slotsOf(tpl)) {
    const src = (f.sources || {})[slot.key] || emptySource(slot);
    if (slot.kind === 'header-media') {
      const ref = String(src.value || '').trim();
      if (!ref) return fail(K('campaigns.error_media'), slot.key);
      parameters.header = { [MEDIA[slot.format]]: { [src.kind === 'id' ? 'id' : 'link']: ref } };
      continue;
    }
    if (src.kind === 'field' && !src.field) {
      if (slot.required) return fail(K('campaigns.error_source'), slot.key);
      continue;
    }
    if (src.kind === 'value' && String(src.value ?? '').trim() === '') {
      if (slot.required) return fail(K('campaigns.error_value'), slot.key);
      continue;
    }
    const source = sourceBody(src);
    if (!source) {
      if (slot.required) return fail(K('campaigns.error_source'), slot.key);
      continue;
    }
    if (slot.kind === 'header-text') parameters.header = { text: source };
    else if (slot.kind === 'body') {
      body[slot.name] = source;
      positional.push(source);
    } else buttons.push({ index: slot.index, sub_type: slot.subType, value: source });
  }
  if (positional.length) parameters.body = tpl.parameter_format === 'NAMED' ? body : positional;
  if (buttons.length) parameters.buttons = buttons;
  if (!f.segment) return fail(K('campaigns.error_segment'), 'segment');
  const exclude = [...new Set((f.exclude || []).filter((id) => id && id !== f.segment))];
  if (exclude.length > MAX_EXCLUDED) return fail(K('campaigns.error_exclude'), 'exclude');
  const out = {
    name,
    channel: f.channel,
    template: { name: template.name, language: template.language },
    parameters,
    audience: { segment: f.segment, exclude_segments: exclude },
  };
  const schedule = {};
  if (f.when === 'at') {
    const at = localToMs(f.start_at, timeZone);
    if (at === null) return fail(K('campaigns.error_start_at'), 'start_at');
    if (at <= now) return fail(K('campaigns.error_start_past'), 'start_at');
    schedule.start_at = new Date(at).toISOString();
  }
  if (f.window) {
    schedule.window = {
      from: String(f.window_from || '').trim(),
      to: String(f.window_to || '').trim(),
      timezone: String(f.window_tz || '').trim() || 'UTC',
    };
  }
  if (Object.keys(schedule).length) out.schedule = schedule;
  if (f.cap) {
    const messages = whole(f.cap_messages, 1, 1_000_000);
    if (messages === null) return fail(K('campaigns.error_cap_messages'), 'cap_messages');
    const days = whole(f.cap_days, 1, MAX_CAP_DAYS);
    if (days === null) return fail(K('campaigns.error_cap_days'), 'cap_days');
    out.frequency_cap = { messages, days };
  }
  return { body: out };
}

/** The wizard's source of a spec's Source. */
function sourceForm(source) {
  if (!source || typeof source !== 'object') return { kind: 'field', field: '', value: '', default: '' };
  if (typeof source.value === 'string') return { kind: 'value', field: '', value: source.value, default: '' };
  return { kind: 'field', field: source.field || '', value: '', default: source.default || '' };
}

/**
 * The wizard's fields from a campaign's spec (to edit a draft into a new one), given its
 * template (for the positional body's names); `timeZone` reads the start time.
 */
export function formOfSpec(spec, template, timeZone = 'UTC') {
  const f = emptyForm(timeZone);
  if (!spec) return f;
  f.name = spec.name || '';
  f.channel = spec.channel || '';
  f.template = spec.template ? templateKey(spec.template) : '';
  const p = spec.parameters || {};
  const tpl = template ? formOf(template) : null;
  if (p.header && p.header.text) f.sources.header = sourceForm(p.header.text);
  for (const kind of ['image', 'video', 'document']) {
    const ref = p.header && p.header[kind];
    if (ref) f.sources.header = { kind: ref.id ? 'id' : 'link', value: ref.id || ref.link || '' };
  }
  if (Array.isArray(p.body)) {
    const names = tpl ? tpl.body_parameters : p.body.map((_, i) => String(i + 1));
    p.body.forEach((s, i) => {
      if (names[i]) f.sources['body:' + names[i]] = sourceForm(s);
    });
  } else if (p.body && typeof p.body === 'object') {
    for (const [name, s] of Object.entries(p.body)) f.sources['body:' + name] = sourceForm(s);
  }
  for (const b of p.buttons || []) f.sources['button:' + b.index] = sourceForm(b.value);
  const a = spec.audience || {};
  f.segment = a.segment || '';
  f.exclude = [...(a.exclude_segments || [])];
  const s = spec.schedule || {};
  if (s.start_at) {
    const at = Date.parse(s.start_at);
    if (Number.isFinite(at)) {
      f.when = 'at';
      f.start_at = msToLocal(at, timeZone);
    }
  }
  if (s.window) {
    f.window = true;
    f.window_from = s.window.from || '';
    f.window_to = s.window.to || '';
    f.window_tz = s.window.timezone || 'UTC';
  }
  if (spec.frequency_cap) {
    f.cap = true;
    f.cap_messages = String(spec.frequency_cap.messages);
    f.cap_days = String(spec.frequency_cap.days);
  }
  return f;
}

/**
 * The actions a campaign in `state` allows `role` (only admins run campaigns): `preview` and
 * `start` for a draft, `pause` while scheduled or running, `resume` while paused, `cancel`
 * until it is over. Matches the server's campaign::transition.
 */
export function actionsFor(state, role) {
  if (role !== 'admin') return [];
  switch (state) {
    case 'draft':
      return ['preview', 'start', 'cancel'];
    case 'scheduled':
    case 'running':
      return ['pause', 'cancel'];
    case 'paused':
      return ['resume', 'cancel'];
    default:
      return [];
  }
}

/** Whether a campaign in `state` is still sending or waiting to. */
export function isLive(state) {
  return LIVE.has(state);
}

const DAY = 86_400_000;

/**
 * How often a campaign's page asks again, in ms (null: never): every 2 s while it sends or
 * waits to; every 5 s while paused, and in the 7 days after it completed (Meta's statuses,
 * replies and opt-outs still come); never once cancelled or older.
 */
export function pollInterval(c, now = Date.now()) {
  if (!c) return null;
  if (LIVE.has(c.state)) return 2000;
  if (c.state === 'paused') return 5000;
  if (c.state === 'completed' && typeof c.finished_at === 'number' && now - c.finished_at < 7 * DAY) return 5000;
  return null;
}

/** `n` of `total` as a fraction (0 to 1), or null when there is nothing to share. */
export function share(n, total) {
  const a = Number(n);
  const b = Number(total);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return Math.min(1, Math.max(0, a / b));
}

/** The sum of a map's counts (`{reason: n}`). */
export function total(map) {
  return Object.values(map || {}).reduce((sum, n) => sum + (Number(n) || 0), 0);
}

/** A map of counts as rows, biggest first, then by the order of `order` (then by name). */
export function breakdown(map, order = []) {
  const rank = (k) => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return Object.entries(map || {})
    .map(([key, n]) => ({ key, n: Number(n) || 0 }))
    .filter((r) => r.n > 0)
    .sort((a, b) => b.n - a.n || rank(a.key) - rank(b.key) || a.key.localeCompare(b.key));
}

/**
 * A campaign's counts as the live page shows them, each with the share it is of its whole:
 * the excluded and the pending of the targeted, the sent of those to send (targeted less
 * excluded), the rest of the sent.
 */
export function tiles(counts) {
  const c = counts || {};
  const n = (k) => Number(c[k]) || 0;
  const excluded = total(c.excluded);
  const reachable = Math.max(0, n('targeted') - excluded);
  const sent = n('sent');
  return [
    { key: 'targeted', n: n('targeted'), share: null },
    { key: 'excluded', n: excluded, share: share(excluded, n('targeted')) },
    { key: 'pending', n: n('pending'), share: share(n('pending'), reachable) },
    { key: 'sent', n: sent, share: share(sent, reachable) },
    { key: 'delivered', n: n('delivered'), share: share(n('delivered'), sent) },
    { key: 'read', n: n('read'), share: share(n('read'), sent) },
    { key: 'replied', n: n('replied'), share: share(n('replied'), sent) },
    { key: 'failed', n: n('failed'), share: share(n('failed'), sent) },
    { key: 'opted_out', n: n('opted_out'), share: share(n('opted_out'), sent) },
  ];
}

/** A list row's progress: sent of those to send (`null` before anything is targeted). */
export function progress(counts) {
  const c = counts || {};
  const reachable = Math.max(0, (Number(c.targeted) || 0) - total(c.excluded));
  return { sent: Number(c.sent) || 0, of: reachable, share: share(Number(c.sent) || 0, reachable) };
}

/** An amount of money in `currency` (an ISO 4217 code) for `locale`; the amount and code if Intl cannot. */
export function money(amount, currency, locale) {
  const n = Number(amount);
  if (!Number.isFinite(n)) return '';
  const code = String(currency || '').trim().toUpperCase();
  try {
    if (/^[A-Z]{3}$/.test(code)) {
      return new Intl.NumberFormat(locale, { style: 'currency', currency: code, maximumFractionDigits: 4 }).format(n);
    }
  } catch {
    // An unknown code: below.
  }
  return `${n.toFixed(4).replace(/\.?0+$/, '')} ${code}`.trim();
}

/** A count for `locale`. */
export function count(n, locale) {
  const v = Number(n);
  if (!Number.isFinite(v)) return '';
  try {
    return new Intl.NumberFormat(locale).format(v);
  } catch {
    return String(v);
  }
}

/** A share (0 to 1) as a percentage for `locale` (one decimal at most); '' for none. */
export function percent(fraction, locale) {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '';
  try {
    return new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(fraction);
  } catch {
    return `${Math.round(fraction * 1000) / 10}%`;
  }
}

/** The cost by country as rows, most messages first (`unknown` last). */
export function costRows(byCountry) {
  return Object.entries(byCountry || {})
    .map(([country, c]) => ({ country, messages: Number(c && c.messages) || 0, amount: Number(c && c.amount) || 0 }))
    .sort((a, b) => (a.country === 'unknown') - (b.country === 'unknown') || b.messages - a.messages || a.country.localeCompare(b.country));
}

/**
 * Sample values for the wizard's draft of the message: each slot's fixed value, else the
 * field's label in brackets (`[Name]`), keyed like lib/template-form.js's values.
 */
export function sampleValues(slots, sources, labelOf) {
  const out = {};
  for (const slot of slots || []) {
    const src = (sources || {})[slot.key];
    if (!src || slot.kind === 'header-media') continue;
    if (src.kind === 'value' && src.value) out[slot.key] = src.value;
    else if (src.kind === 'field' && src.field) out[slot.key] = `[${labelOf ? labelOf(src.field) : src.field}]`;
  }
  return out;
}
