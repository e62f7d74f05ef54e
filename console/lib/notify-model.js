// What notifies (pure, unit-tested in tools/test-notify.mjs): which websocket event is an
// offer, an assignment or a customer's message in one of my conversations, whether the user's
// settings want it, and when a pending offer reminds again.

/** The settings before the server's are loaded (the server's defaults). */
export const DEFAULT_SETTINGS = Object.freeze({
  sound: true,
  desktop: true,
  events: Object.freeze({ offer: true, assignment: true, message: true }),
});

/** Seconds between two reminders of an offer nobody answered yet. */
export const REMIND_MS = 5000;

/**
 * The notice an event frame makes for me (`{kind, conversationId, customer}`), or null.
 * `state` is the store after the event was applied (it knows who holds a conversation).
 */
export function noticeFor(frame, state, meId) {
  if (!frame || typeof frame !== 'object') return null;
  const d = frame.data && typeof frame.data === 'object' ? frame.data : {};
  const conv = d.conversation && typeof d.conversation.id === 'string' ? d.conversation : null;
  const customer = (c) => (c && c.customer && typeof c.customer.name === 'string' ? c.customer.name : '');
  switch (frame.kind) {
    case 'conversation.offered':
      return conv ? { kind: 'offer', conversationId: conv.id, customer: customer(conv) } : null;
    case 'conversation.sla_breached':
      // Told to the team's supervisors and the agent who has it: always a notice.
      return conv ? { kind: 'sla', conversationId: conv.id, customer: customer(conv) } : null;
    case 'conversation.assigned':
      return conv && (!conv.assignee || conv.assignee === meId)
        ? { kind: 'assignment', conversationId: conv.id, customer: customer(conv) }
        : null;
    case 'message.created': {
      const m = d.message;
      const cid = d.conversation_id || (m && m.conversation_id);
      if (!m || m.direction !== 'inbound' || typeof cid !== 'string') return null;
      const known = state && state.conversations ? state.conversations[cid] : null;
      // Mine: assigned to me (a supervisor also hears of their teams' conversations: not those).
      if (!known || known.assignee !== meId) return null;
      return { kind: 'message', conversationId: cid, customer: customer(known) };
    }
    default:
      return null;
  }
}

/** Whether `settings` want notices of this kind at all. */
export function wanted(settings, kind) {
  const events = (settings && settings.events) || DEFAULT_SETTINGS.events;
  return events[kind] !== false;
}

/**
 * The offers that should remind now: pending (not expired at `now`), and last reminded (or
 * offered) at least REMIND_MS ago. `last` maps an offer's id to when it last sounded.
 */
export function offersToRemind(offers, last, now) {
  const due = [];
  for (const [id, o] of Object.entries(offers || {})) {
    if (o && typeof o.expires_at === 'number' && o.expires_at <= now) continue;
    const at = last[id];
    if (typeof at !== 'number' || now - at >= REMIND_MS) due.push(id);
  }
  return due;
}

/** `applicationServerKey` from the server's base64url VAPID key. */
export function keyBytes(base64url) {
  const b64 = String(base64url).replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const raw = atob(padded);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
