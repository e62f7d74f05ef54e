// What the transcript shows around each message: the message a reply quotes, the reactions
// a message carries (a reaction is not a bubble of its own; a removed one is gone), a place's
// map link and a shared contact's card. Pure: tools/test-transcript.mjs tests it in node.
//
// Bodies are the API's (docs/CONSOLE_API.md, "Message"): an inbound message's `body` is its
// content (`{"type": "reaction", "message_id": "wamid…", "emoji": "👍" | null}`, a location,
// contacts…) and names what it replies to as WhatsApp does, `context.message_id`; an outbound
// reply carries `context` too.

import { messageText } from './model.js';

/** How long a quoted excerpt may be, in characters. */
export const EXCERPT_CHARS = 120;

/** Whether a message is a reaction (to another message, by its provider id). */
export function isReaction(m) {
  if (!m || typeof m !== 'object') return false;
  const b = m.body;
  return m.kind === 'reaction' || m.kind === 'unreaction' || (!!b && typeof b === 'object' && b.type === 'reaction');
}

function str(v) {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** The provider id of the message `m` replies to, else null. */
export function replyTarget(m) {
  if (!m || typeof m !== 'object') return null;
  const b = m.body && typeof m.body === 'object' ? m.body : {};
  for (const ctx of [b.context, m.context]) {
    if (ctx && typeof ctx === 'object') {
      const id = str(ctx.message_id) || str(ctx.replied_to) || str(ctx.id);
      if (id) return id;
    }
  }
  return str(b.reply_to) || str(m.reply_to);
}

/** `text` cut to `max` characters (whole code points) with an ellipsis. */
export function excerpt(text, max = EXCERPT_CHARS) {
  if (typeof text !== 'string') return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  const chars = [...flat];
  return chars.length <= max ? flat : chars.slice(0, max - 1).join('').trimEnd() + '…';
}

/**
 * The transcript's messages with their reactions folded in. `messages`: oldest first (as
 * mergeMessages leaves them). Returns `{shown, reactions, byProvider}`:
 * - `shown`: the messages to draw, reactions left out except those whose message is not in
 *   the transcript (an orphan: `{...m, orphan: true}`, drawn small) while still standing;
 * - `reactions`: message id → `[{emoji, sender, author, at}]`, one per reacting person
 *   (WhatsApp keeps one reaction per person and message: the latest wins, none removes it);
 * - `byProvider`: provider id → message (what a reply quotes).
 */
export function foldTranscript(messages) {
  const byProvider = new Map();
  for (const m of messages || []) if (m && str(m.provider_id)) byProvider.set(m.provider_id, m);
  const latest = new Map(); // target provider id → Map(person → reaction message)
  for (const m of messages || []) {
    if (!isReaction(m)) continue;
    const target = str(m.body && m.body.message_id);
    if (!target) continue;
    const person = (m.sender || m.direction || '') + ':' + (m.author || '');
    if (!latest.has(target)) latest.set(target, new Map());
    latest.get(target).set(person, m);
  }
  const reactions = {};
  const orphans = new Set();
  for (const [target, people] of latest) {
    const list = [];
    for (const r of people.values()) {
      const emoji = str(r.body.emoji);
      if (emoji) list.push({ emoji, sender: r.sender || null, author: r.author || null, at: r.created_at || 0, id: r.id });
    }
    if (!list.length) continue;
    const m = byProvider.get(target);
    if (m && !isReaction(m)) reactions[m.id] = list;
    else for (const r of list) orphans.add(r.id);
  }
  const shown = [];
  for (const m of messages || []) {
    if (!m) continue;
    if (!isReaction(m)) shown.push(m);
    else if (orphans.has(m.id)) shown.push({ ...m, orphan: true });
  }
  return { shown, reactions, byProvider };
}

/** The same emoji from several people counted once: `[{emoji, count}]` in first-seen order. */
export function reactionCounts(list) {
  const counts = new Map();
  for (const r of list || []) counts.set(r.emoji, (counts.get(r.emoji) || 0) + 1);
  return [...counts].map(([emoji, count]) => ({ emoji, count }));
}

/**
 * What a reply shows of the message it answers: `{id, message, text, kind}` (`message` null
 * when that message is not in the transcript), or null when `m` replies to nothing.
 */
export function quoteOf(m, byProvider) {
  const target = replyTarget(m);
  if (!target) return null;
  const q = byProvider ? byProvider.get(target) : undefined;
  if (!q) return { id: target, message: null, text: '', kind: null };
  return { id: target, message: q, text: excerpt(messageText(q.body)), kind: q.kind || null };
}

function coordinate(v, limit) {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && Math.abs(n) <= limit ? n : null;
}

/** A place's OpenStreetMap link (`https://www.openstreetmap.org/?mlat=…&mlon=…`), else null. */
export function mapLink(body) {
  if (!body || typeof body !== 'object') return null;
  const lat = coordinate(body.latitude, 90);
  const lon = coordinate(body.longitude, 180);
  if (lat === null || lon === null) return null;
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
}

/** A location's `{name, address, link, coordinates}` for the transcript. */
export function place(body) {
  const b = body && typeof body === 'object' ? body : {};
  const link = mapLink(b);
  const lat = coordinate(b.latitude, 90);
  const lon = coordinate(b.longitude, 180);
  return {
    name: str(b.name),
    address: str(b.address),
    link,
    coordinates: link ? `${lat.toFixed(5)}, ${lon.toFixed(5)}` : null,
  };
}

/** Shared contacts as cards: `[{name, organization, phones: [{phone, kind}], emails}]`. */
export function contactCards(body) {
  const list = body && typeof body === 'object' && Array.isArray(body.contacts) ? body.contacts : [];
  return list
    .filter((c) => c && typeof c === 'object')
    .map((c) => {
      const name =
        str(c.formatted_name) ||
        (c.name && typeof c.name === 'object' ? str(c.name.formatted_name) : str(c.name)) ||
        null;
      const phones = (Array.isArray(c.phones) ? c.phones : [])
        .filter((p) => p && (str(p.phone) || str(p.wa_id)))
        .map((p) => ({ phone: str(p.phone) || str(p.wa_id), kind: str(p.kind) || str(p.type) }));
      const emails = (Array.isArray(c.emails) ? c.emails : [])
        .map((e) => (typeof e === 'string' ? e : e && str(e.email)))
        .filter((e) => typeof e === 'string' && e !== '');
      const organization = str(c.organization) || (c.org && typeof c.org === 'object' ? str(c.org.company) : null);
      return { name, organization, phones, emails };
    });
}

/** A phone number as a `tel:` link target: digits and a leading +, else null. */
export function telLink(phone) {
  if (typeof phone !== 'string') return null;
  const digits = phone.replace(/[^\d+]/g, '').replace(/(?!^)\+/g, '');
  return /\d{3,}/.test(digits) ? 'tel:' + digits : null;
}
