// The inbox's pure logic beyond the event store (lib/model.js): the search and its filters as
// a query, pages of a list, the rows a virtualized list draws, Meta's 24-hour customer-service
// window, who else is in a conversation (activity frames), and when to say so to the server.
// No DOM and no network: tools/test-inbox.mjs tests it in node.

/** Meta's customer-service window: 24 hours from the customer's last message. */
export const WINDOW_MS = 24 * 60 * 60 * 1000;
/** The window's last hour: the composer warns. */
export const WINDOW_WARN_MS = 60 * 60 * 1000;
/** `viewing` is said again this often while a conversation stays open. */
export const VIEWING_EVERY_MS = 20_000;
/** `typing` is said at most this often while the composer changes. */
export const TYPING_EVERY_MS = 3_000;
/** After this long without a change the composer is no longer typing: `viewing` again. */
export const TYPING_IDLE_MS = 6_000;

/** The filters a search may use (besides its free text `q`), in the order the panel shows them. */
export const FILTERS = ['status', 'channel', 'team', 'assignee', 'tag'];
/** The statuses the status filter offers. */
export const SEARCH_STATUSES = ['waiting', 'assigned', 'snoozed', 'resolved', 'bot'];

/** The longest search text or tag the server takes. */
export const MAX_SEARCH_CHARS = 100;

/** Text as a query value: trimmed, at most MAX_SEARCH_CHARS characters (whole ones), else null. */
function value(v) {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  return s === '' ? null : [...s].slice(0, MAX_SEARCH_CHARS).join('');
}

/**
 * The query of a search: free text `q` and the filters set (`{status, channel, team, assignee,
 * tag}`; `assignee` may be `me` or `unassigned`, which asks `unassigned=true`). Null when
 * nothing is asked: the tabs show instead.
 */
export function searchQuery(q, filters = {}) {
  const out = {};
  const text = value(q);
  if (text) out.q = text;
  for (const key of FILTERS) {
    const v = value(filters && filters[key]);
    if (!v) continue;
    if (key === 'assignee' && v === 'unassigned') out.unassigned = 'true';
    else out[key] = v;
  }
  return Object.keys(out).length ? out : null;
}

/** A stable key for a query (its entries in name order): the search list's key in the store. */
export function queryKey(query) {
  return Object.keys(query)
    .sort()
    .map((k) => `${k}=${query[k]}`)
    .join('&');
}

/** The tab a search shows: a list of its own, paged, not merged with the live lists. */
export function searchTab(query) {
  return { key: 'search:' + queryKey(query), labelKey: 'tab.search', queries: [query], match: null, search: true };
}

/** How many filters are set (for the filters button's badge). */
export function filterCount(filters) {
  return FILTERS.filter((k) => value(filters && filters[k])).length;
}

/**
 * One page of a list's answer: `{conversations, next}` (`next`: the cursor for `before=`, or
 * null at the end). An older server answers without `next`: one page only.
 */
export function pageOf(answer) {
  const conversations = answer && Array.isArray(answer.conversations) ? answer.conversations : [];
  const next = answer && typeof answer.next === 'string' && answer.next !== '' ? answer.next : null;
  return { conversations, next };
}

/** The ids of `list` after `ids`, each once (a page appended to what a list had). */
export function appendIds(ids, list) {
  const seen = new Set(ids);
  const out = ids.slice();
  for (const c of list || []) {
    if (c && typeof c.id === 'string' && !seen.has(c.id)) {
      seen.add(c.id);
      out.push(c.id);
    }
  }
  return out;
}

/** Whether a list should ask for its next page: scrolled within `margin` rows of its end. */
export function nearEnd(scrollTop, viewport, rowHeight, count, margin = 10) {
  if (!(rowHeight > 0)) return false;
  return scrollTop + viewport >= (count - margin) * rowHeight;
}

/**
 * The rows a virtualized list draws: `{start, end, before, after}` (rows `start` to `end - 1`,
 * and the space above and below them in pixels), for rows of `rowHeight` pixels, scrolled to
 * `scrollTop` in a viewport of `viewport` pixels, with `overscan` rows more on each side. The
 * row `keep` (the focused or open one) is always drawn, so focus never falls out of the DOM.
 */
export function visibleRange(count, rowHeight, scrollTop, viewport, overscan = 8, keep = -1) {
  if (!(count > 0) || !(rowHeight > 0)) return { start: 0, end: 0, before: 0, after: 0, keep: -1 };
  const top = Math.max(0, scrollTop || 0);
  const view = Math.max(rowHeight, viewport || 0);
  let start = Math.max(0, Math.floor(top / rowHeight) - overscan);
  let end = Math.min(count, Math.ceil((top + view) / rowHeight) + overscan);
  if (start >= count) start = Math.max(0, count - 1);
  if (end <= start) end = Math.min(count, start + 1);
  const k = Number.isInteger(keep) && keep >= 0 && keep < count && (keep < start || keep >= end) ? keep : -1;
  return { start, end, before: start * rowHeight, after: (count - end) * rowHeight, keep: k };
}

/** The scroll position that shows row `index` (`block: nearest`), or null if it is in view. */
export function scrollToShow(index, rowHeight, scrollTop, viewport) {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewport) return top + rowHeight - viewport;
  return null;
}

/** The next row index for a move of `step` from `current` (-1: none yet) in `count` rows. */
export function stepIndex(current, step, count) {
  if (!(count > 0)) return -1;
  if (current < 0 || current >= count) return step > 0 ? 0 : count - 1;
  return Math.min(count - 1, Math.max(0, current + step));
}

// ---------------------------------------------------------------------------------------------
// Meta's 24-hour window

/**
 * Where a conversation stands with its channel's messaging window at `now`:
 * `{state, closesAt, tagged}`, `state` one of `open`, `closing` (its last hour), `closed`, or
 * `unknown` (an older server that says nothing: no notice). `tagged`: replies go with Meta's
 * HUMAN_AGENT tag now (a page approved for it, rule `human_agent`: the 24 hours are over and
 * the 7 days are not, or, when closed, it was the 7 days that ended). From the view's
 * `window: {rule, open, closes_at, tagged, tagged_from}`, else its `last_inbound_at`.
 */
export function replyWindow(c, now) {
  if (!c || typeof c !== 'object') return { state: 'unknown', closesAt: null, tagged: false };
  const w = c.window;
  let closesAt = null;
  let tagged = false;
  if (w && typeof w === 'object' && typeof w.open === 'boolean') {
    closesAt = finite(w.closes_at);
    const from = w.rule === 'human_agent' ? finite(w.tagged_from) : null;
    if (!w.open) return { state: 'closed', closesAt, tagged: from !== null };
    tagged = w.tagged === true || (from !== null && from <= now);
  } else if (finite(c.last_inbound_at) !== null) {
    closesAt = c.last_inbound_at + WINDOW_MS;
  } else if ('last_inbound_at' in c && c.last_inbound_at === null) {
    return { state: 'closed', closesAt: null, tagged }; // the customer never wrote
  } else {
    return { state: 'unknown', closesAt: null, tagged };
  }
  if (closesAt === null) return { state: 'open', closesAt: null, tagged };
  if (closesAt <= now) return { state: 'closed', closesAt, tagged };
  if (closesAt - now <= WINDOW_WARN_MS) return { state: 'closing', closesAt, tagged };
  return { state: 'open', closesAt, tagged };
}

function finite(n) {
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/** When the window's state (or its tag) next changes after `now` (for a timer), else null. */
export function windowChangesAt(c, now) {
  const w = replyWindow(c, now);
  const from = c && c.window && c.window.rule === 'human_agent' ? finite(c.window.tagged_from) : null;
  if (from !== null && from > now && w.state !== 'closed') return from;
  if (w.closesAt === null) return null;
  if (w.state === 'open') return w.closesAt - WINDOW_WARN_MS;
  if (w.state === 'closing') return w.closesAt;
  return null;
}

// ---------------------------------------------------------------------------------------------
// SLA clocks

const SLA_SEVERITY = { met: 0, on_track: 1, at_risk: 2, missed: 3, breached: 4 };

/**
 * A conversation's SLA at `now`, from the view's `sla: {clocks: [{clock, status, due_at,
 * at_risk_at, stopped_at}]}` (null: no policy applies): `{status, clock, dueAt}`, `status` the
 * worst clock's (`on_track`, `at_risk`, `breached`, `met`, `missed`), `clock` that clock's
 * name, `dueAt` its due time. Running clocks move with the time: the server's status is only
 * where they stood when it answered.
 */
export function slaState(c, now) {
  const clocks = c && c.sla && Array.isArray(c.sla.clocks) ? c.sla.clocks : null;
  if (!clocks || !clocks.length) return null;
  let worst = null;
  for (const k of clocks) {
    if (!k || typeof k.clock !== 'string') continue;
    let status = typeof k.status === 'string' && k.status in SLA_SEVERITY ? k.status : 'on_track';
    const due = finite(k.due_at);
    const risk = finite(k.at_risk_at);
    if (finite(k.stopped_at) === null) {
      if (due !== null && due <= now) status = 'breached';
      else if (risk !== null && risk <= now) status = 'at_risk';
      else if (status !== 'breached') status = 'on_track';
    }
    const item = { status, clock: k.clock, dueAt: due };
    if (!worst || SLA_SEVERITY[status] > SLA_SEVERITY[worst.status]
      || (status === worst.status && due !== null && (worst.dueAt === null || due < worst.dueAt))) worst = item;
  }
  return worst;
}

/** When a running SLA clock next changes state after `now` (for a timer), else null. */
export function slaChangesAt(c, now) {
  const clocks = c && c.sla && Array.isArray(c.sla.clocks) ? c.sla.clocks : [];
  let next = null;
  for (const k of clocks) {
    if (!k || finite(k.stopped_at) !== null) continue;
    for (const at of [finite(k.at_risk_at), finite(k.due_at)]) {
      if (at !== null && at > now && (next === null || at < next)) next = at;
    }
  }
  return next;
}

// ---------------------------------------------------------------------------------------------
// Who else is here: activity frames

/**
 * An `activity` frame from the server (`{conversation_id, people: [{id, name, typing}]}`): the
 * others in that conversation now, me left out; an empty list clears it. O(1): only that
 * conversation's entry changes.
 */
export function applyActivity(activity, frame, meId) {
  if (!frame || typeof frame.conversation_id !== 'string' || !Array.isArray(frame.people)) return activity;
  const people = frame.people
    .filter((p) => p && typeof p.id === 'string' && p.id !== meId)
    .map((p) => ({ id: p.id, name: typeof p.name === 'string' && p.name ? p.name : p.id, typing: p.typing === true }));
  const id = frame.conversation_id;
  if (!people.length) {
    if (!activity[id]) return activity;
    const next = { ...activity };
    delete next[id];
    return next;
  }
  return { ...activity, [id]: people };
}

/** Who is viewing and who is typing in a conversation: `{viewing: [names], typing: [names]}`. */
export function presenceIn(activity, id) {
  const people = (activity && activity[id]) || [];
  return {
    viewing: people.filter((p) => !p.typing).map((p) => p.name),
    typing: people.filter((p) => p.typing).map((p) => p.name),
  };
}

/**
 * What to tell the server, given what it was last told (`last`: `{id, state, at}` or null)
 * and what happens (`event`: `open`, `tick` (every few seconds), `input` (the composer
 * changed), `stop` (sent, or the composer emptied), `close`) at `now` for conversation `id`. Returns the frame to send (or null) and
 * the new `last`.
 */
export function nextActivity(last, event, id, now) {
  const frame = (conversationId, state) => ({ type: 'activity', conversation_id: conversationId, state });
  const out = [];
  let cur = last;
  const say = (cid, state) => {
    out.push(frame(cid, state));
    cur = state === 'idle' ? null : { id: cid, state, at: now };
  };
  switch (event) {
    case 'open':
      if (cur && cur.id !== id) say(cur.id, 'idle');
      if (!cur || cur.id !== id) say(id, 'viewing');
      break;
    case 'tick':
      // Still here: `viewing` again every 20 s, and soon after the typing stopped.
      if (cur && cur.id === id) {
        const quiet = now - cur.at;
        if (quiet >= VIEWING_EVERY_MS || (cur.state === 'typing' && quiet >= TYPING_IDLE_MS)) say(id, 'viewing');
      }
      break;
    case 'input':
      if (cur && cur.id !== id) say(cur.id, 'idle');
      if (!cur || cur.id !== id || cur.state !== 'typing' || now - cur.at >= TYPING_EVERY_MS) say(id, 'typing');
      break;
    case 'stop':
      if (cur && cur.id === id && cur.state === 'typing') say(id, 'viewing');
      break;
    case 'close':
      if (cur) say(cur.id, 'idle');
      break;
    default:
      break;
  }
  return { frames: out, last: cur };
}
