// The console's state and how events change it: pure functions, no DOM and no network, so
// tools/test-model.mjs tests them in node.
//
// The websocket's events are the source of truth: `applyEvent` applies them in sequence order
// (a sequence already applied is ignored). REST answers fill the gaps (a first load, a tab
// nobody sent events about, a reload after `resync`), but never overwrite what a later event
// said: every event ticks `clock` and stamps the conversation it touched, a REST request
// remembers the clock when it started, and its answer only replaces a conversation stamped
// before that (or one the answer shows as updated later).
//
// With 10,000 open conversations an event must not cost a copy of them all: `conversations`,
// `touched` and `previews` are owned by the workspace and changed in place (O(1) per event),
// `rev` counts those changes and `changes` keeps the last ones (ids), so what is derived from
// them (listRows) follows by the ids that changed. Everything else is copied as before.

/** Statuses of a conversation that still needs someone. */
export const OPEN_STATUSES = ['waiting', 'assigned', 'snoozed'];

/** Delivery progress of an outbound message; `failed` wins over all of them. */
const DELIVERY_RANK = { queued: 0, sending: 1, accepted: 2, sent: 3, delivered: 4, read: 5, played: 6 };

/** The workspace's state right after a login (or a logout). */
export function emptyWorkspace() {
  return {
    me: null,
    teams: [],
    quickReplies: null,
    conversations: {},
    touched: {},
    rev: 0,
    changes: [],
    clock: 0,
    lists: {},
    tab: 'mine',
    search: '',
    filters: {},
    activity: {},
    dialog: null,
    offers: {},
    unread: {},
    previews: {},
    openId: null,
    detail: null,
    pane: 'list',
    connection: 'reconnecting',
    everConnected: false,
    lastSeq: 0,
    notice: null,
    view: 'inbox',
    adminTab: 'users',
    teamsAt: 0,
    admin: emptyAdmin(),
  };
}

/** What the administration screens loaded (each list: `{items, loading, error}`). */
export function emptyAdmin() {
  const list = () => ({ items: null, loading: false, error: null });
  return {
    users: list(),
    teams: list(),
    tokens: list(),
    audit: { entries: [], next: null, loading: false, error: null, loaded: false },
  };
}

// ---------------------------------------------------------------------------------------------
// Roles: what the console offers each one. The server decides (src/accounts/policy.rs and the
// conversation's commands); these only keep the console from offering what it would refuse.

/** The views `user` may open: the inbox for all, the board, reports, the contacts and the campaigns for supervisors and admins, administration for admins. */
export function allowedViews(user) {
  const role = user && user.role;
  if (role === 'admin') return ['inbox', 'board', 'reports', 'contacts', 'campaigns', 'admin'];
  if (role === 'supervisor') return ['inbox', 'board', 'reports', 'contacts', 'campaigns'];
  return ['inbox'];
}

/** `wanted` if the user may open it, else the inbox. */
export function viewFor(user, wanted) {
  return allowedViews(user).includes(wanted) ? wanted : 'inbox';
}

/** Whether `user` manages `team`: an admin, or a supervisor of that team. */
export function managesTeam(user, team) {
  if (!user || typeof team !== 'string' || team === '') return false;
  if (user.role === 'admin') return true;
  return user.role === 'supervisor' && Array.isArray(user.supervises) && user.supervises.includes(team);
}

/**
 * What `user` may do to conversation `c`: `{reply, note, transfer, resolve, snooze}`.
 * Replying and snoozing stay with whoever holds it (assigned to them); notes, transfers and
 * resolving also with whoever manages its team (an admin, a supervisor of it) while it is open.
 */
export function conversationPermissions(user, c) {
  const none = { reply: false, note: false, transfer: false, resolve: false, snooze: false };
  if (!user || !c || typeof user.id !== 'string') return none;
  const mine = c.assignee === user.id;
  const holds = mine && c.status === 'assigned';
  const open = OPEN_STATUSES.includes(c.status);
  const manages = (user.role === 'admin' || managesTeam(user, c.team)) && open;
  return {
    reply: holds,
    snooze: holds,
    note: mine || user.role === 'admin' || managesTeam(user, c.team),
    transfer: holds || manages || (mine && c.status === 'waiting'),
    resolve: holds || manages || (mine && (c.status === 'waiting' || c.status === 'snoozed')),
  };
}

/** The status to keep when a message is known as `current` and something says `incoming`. */
export function betterStatus(current, incoming) {
  if (!incoming) return current;
  if (!current) return incoming;
  if (incoming === 'failed' || current === 'failed') return 'failed';
  const a = DELIVERY_RANK[current];
  const b = DELIVERY_RANK[incoming];
  if (a === undefined || b === undefined) return incoming;
  return b >= a ? incoming : current;
}

/** Two lists of messages as one, by id, oldest first; `incoming` fills in `existing`. */
export function mergeMessages(existing, incoming) {
  const byId = new Map();
  for (const m of existing || []) if (m && m.id) byId.set(m.id, m);
  for (const m of incoming || []) {
    if (!m || !m.id) continue;
    const old = byId.get(m.id);
    if (!old) {
      byId.set(m.id, m);
      continue;
    }
    const merged = { ...old, ...m, status: betterStatus(old.status, m.status) };
    for (const key of ['provider_id', 'error_code', 'error_reason']) {
      if (merged[key] == null && old[key] != null) merged[key] = old[key];
    }
    byId.set(m.id, merged);
  }
  return [...byId.values()].sort(
    (a, b) => (a.created_at || 0) - (b.created_at || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** The text a message shows: its body's text, caption or title, else ''. */
export function messageText(body) {
  if (!body || typeof body !== 'object') return typeof body === 'string' ? body : '';
  for (const key of ['body', 'caption', 'text', 'title']) {
    if (typeof body[key] === 'string' && body[key] !== '') return body[key];
  }
  if (body.type === 'location') return [body.name, body.address].filter(Boolean).join(', ');
  if (typeof body.body === 'object' && body.body) return messageText(body.body);
  return '';
}

/** Whether a number is shown masked (`+34 6•• ••• •12`). */
export function isMasked(phone) {
  return typeof phone === 'string' && phone.includes('•');
}

/** How many changed ids `changes` keeps (older ones: a list derived from before recomputes). */
const CHANGES_KEPT = 512;

/**
 * Puts conversation `c` in place into `s` (a copy of the state this call owns) and notes the
 * change; `s.rev` and `s.changes` are new values, the maps the same objects.
 */
function putConversation(s, c) {
  s.conversations[c.id] = c;
  s.rev = (s.rev || 0) + 1;
  const changes = s.changes || [];
  s.changes = changes.length >= CHANGES_KEPT ? changes.slice(CHANGES_KEPT / 2) : changes.slice();
  s.changes.push({ rev: s.rev, id: c.id });
}

/** An event's (or an action's answer's) conversation, which always wins. */
export function upsertConversation(state, conversation) {
  if (!conversation || typeof conversation.id !== 'string') return state;
  const id = conversation.id;
  const clock = state.clock + 1;
  const s = { ...state, clock };
  s.touched[id] = clock;
  putConversation(s, conversation);
  if (s.detail && s.detail.id === id) s.detail = { ...s.detail, conversation };
  return s;
}

function dropOffer(state, id) {
  if (!state.offers[id]) return state;
  const offers = { ...state.offers };
  delete offers[id];
  return { ...state, offers };
}

/** Whether a REST answer started at `started` may replace what we know of `c`. */
function restMayReplace(state, c, started) {
  const touched = state.touched[c.id] || 0;
  if (touched <= started) return true;
  const known = state.conversations[c.id];
  return !known || (c.updated_at || 0) > (known.updated_at || 0);
}

/** Conversations from REST (a list, a search, a detail), started at clock `started`. */
export function mergeConversations(state, list, started) {
  let s = null;
  for (const c of list || []) {
    if (!c || typeof c.id !== 'string' || !restMayReplace(state, c, started)) continue;
    if (state.conversations[c.id] === c) continue;
    s = s || { ...state };
    putConversation(s, c);
  }
  if (!s) return state;
  if (s.detail && s.conversations[s.detail.id] && s.detail.conversation !== s.conversations[s.detail.id]) {
    s.detail = { ...s.detail, conversation: s.conversations[s.detail.id] };
  }
  return s;
}

/**
 * A tab's REST answer. `page`: `{next, append}`: the cursor of the page after this one (null
 * at the end), and whether this answer is a next page (added after what the list had) rather
 * than the list from its start.
 */
export function applyList(state, key, list, started, page = {}) {
  const s = mergeConversations(state, list, started);
  const before = page.append && s.lists[key] ? s.lists[key].ids : [];
  const seen = new Set(before);
  const ids = before.slice();
  for (const c of list || []) {
    if (c && typeof c.id === 'string' && !seen.has(c.id)) {
      seen.add(c.id);
      ids.push(c.id);
    }
  }
  const next = page.next === undefined ? null : page.next;
  return { ...s, lists: { ...s.lists, [key]: { ids, loading: false, error: null, stale: false, next } } };
}

/** The open conversation's REST answer; ignored if another one was opened meanwhile. */
export function applyDetail(state, body, started) {
  const c = body && body.conversation;
  if (!c || !state.detail || state.detail.id !== c.id) return state;
  const s = { ...mergeConversations(state, [c], started) };
  const messages = mergeMessages(state.detail.messages, body.messages);
  s.detail = {
    ...s.detail,
    loading: false,
    error: null,
    conversation: s.conversations[c.id] || c,
    messages,
    contact: body.contact || null,
    // The campaign whose message this conversation answers, if any.
    campaign: body.campaign || null,
    history: Array.isArray(body.history) ? body.history : [],
    events: Array.isArray(body.events) ? body.events : [],
  };
  return s;
}

/**
 * One `event` frame. Returns the new state and what should follow (`effects`): `resync` (a
 * sequence is missing), `me` (my load may have changed), `detail` (the open conversation needs
 * a reload), `offer` (a new offer to announce), `presence` and `board` (the board reloads its teams).
 * `ctx`: `{meId, hidden}`.
 */
export function applyEvent(state, frame, ctx = {}) {
  if (!frame || typeof frame.seq !== 'number' || !Number.isFinite(frame.seq)) {
    return { state, effects: [], ignored: true };
  }
  if (frame.seq <= state.lastSeq) return { state, effects: [], ignored: true };
  const effects = [];
  if (state.lastSeq > 0 && frame.seq > state.lastSeq + 1) effects.push('resync');
  let s = { ...state, lastSeq: frame.seq };
  const d = frame.data && typeof frame.data === 'object' ? frame.data : {};
  const conv = d.conversation && typeof d.conversation.id === 'string' ? d.conversation : null;
  switch (frame.kind) {
    case 'conversation.offered':
      if (conv) {
        s = upsertConversation(s, conv);
        s.offers = {
          ...s.offers,
          [conv.id]: { conversation: conv, expires_at: d.expires_at ?? null, clock: s.clock },
        };
        effects.push('offer');
      }
      break;
    case 'conversation.assigned':
    case 'conversation.updated':
    case 'conversation.sla_breached':
      if (conv) {
        s = dropOffer(upsertConversation(s, conv), conv.id);
        effects.push('me');
        // The board's at-risk and overdue counts move with a breach.
        if (frame.kind === 'conversation.sla_breached') effects.push('board');
      }
      break;
    case 'message.created': {
      const m = d.message;
      const cid = d.conversation_id || (m && m.conversation_id);
      if (!m || typeof cid !== 'string') break;
      if (s.detail && s.detail.id === cid) {
        s.detail = { ...s.detail, messages: mergeMessages(s.detail.messages, [m]) };
      }
      if (!(m.body && m.body.type === 'reaction')) {
        s.previews[cid] = { text: messageText(m.body), direction: m.direction, kind: m.kind, at: m.created_at };
        s.rev = (s.rev || 0) + 1;
      }
      const known = s.conversations[cid];
      if (known && (m.created_at || 0) > (known.updated_at || 0)) {
        s = upsertConversation(s, { ...known, updated_at: m.created_at });
      }
      if (m.direction === 'inbound' && (s.openId !== cid || ctx.hidden)) {
        s.unread = { ...s.unread, [cid]: (s.unread[cid] || 0) + 1 };
      }
      break;
    }
    case 'message.status': {
      const cid = d.conversation_id;
      if (!s.detail || s.detail.id !== cid) break;
      const i = s.detail.messages.findIndex((m) => d.provider_id && m.provider_id === d.provider_id);
      if (i < 0) {
        // A message we only know as queued: its provider id came later. Reload it.
        effects.push('detail');
        break;
      }
      const messages = s.detail.messages.slice();
      const m = messages[i];
      messages[i] = {
        ...m,
        status: betterStatus(m.status, d.status),
        error_code: d.error_code ?? m.error_code,
      };
      s.detail = { ...s.detail, messages };
      if (d.status === 'failed') effects.push('detail'); // for its error_reason
      break;
    }
    case 'presence.changed': {
      if (typeof d.agent !== 'string') break;
      if (s.me && s.me.agent && d.agent === ctx.meId) {
        s.me = { ...s.me, agent: { ...s.me.agent, presence: d.presence } };
      }
      s = setAgentPresence(s, d.agent, d.presence);
      effects.push('presence'); // the board reloads the teams (loads and queues move with it)
      break;
    }
    default:
      break;
  }
  return { state: s, effects };
}

/**
 * A conversation's new state from the server's news (a `conversation` frame: team inboxes, the
 * waiting line, a supervisor's view; not sequenced): taken unless what we know is newer.
 */
export function applyNews(state, conversation) {
  if (!conversation || typeof conversation.id !== 'string') return state;
  const known = state.conversations[conversation.id];
  if (known && (known.updated_at || 0) > (conversation.updated_at || 0)) return state;
  return upsertConversation(state, conversation);
}

/**
 * A message event of a conversation this console watches without being told by its event log
 * (a `live` frame: someone else's conversation open here). Only the open transcript changes:
 * no unread count, no offer, no sequence.
 */
export function applyLive(state, frame) {
  const d = frame && frame.data && typeof frame.data === 'object' ? frame.data : null;
  if (!d || !state.detail) return state;
  const cid = d.conversation_id || (d.message && d.message.conversation_id);
  if (cid !== state.detail.id) return state;
  if (frame.kind === 'message.created' && d.message && typeof d.message.id === 'string') {
    const messages = mergeMessages(state.detail.messages, [d.message]);
    return messages === state.detail.messages ? state : { ...state, detail: { ...state.detail, messages } };
  }
  if (frame.kind === 'message.status' && typeof d.provider_id === 'string') {
    const i = state.detail.messages.findIndex((m) => m.provider_id === d.provider_id);
    if (i < 0) return state;
    const messages = state.detail.messages.slice();
    messages[i] = {
      ...messages[i],
      status: betterStatus(messages[i].status, d.status),
      error_code: d.error_code ?? messages[i].error_code,
    };
    return { ...state, detail: { ...state.detail, messages } };
  }
  return state;
}

/** An agent's presence in every team roster that lists them. */
export function setAgentPresence(state, agent, presence) {
  let changed = false;
  const teams = state.teams.map((t) => {
    if (!Array.isArray(t.agents) || !t.agents.some((a) => a.id === agent)) return t;
    changed = true;
    return { ...t, agents: t.agents.map((a) => (a.id === agent ? { ...a, presence } : a)) };
  });
  return changed ? { ...state, teams } : state;
}

/** Offers /me no longer lists (taken, expired) are dropped, unless an event added them since. */
export function reconcileOffers(state, offeredIds, started) {
  const keep = new Set(offeredIds || []);
  let offers = null;
  for (const [id, o] of Object.entries(state.offers)) {
    if (!keep.has(id) && (o.clock || 0) <= started) {
      offers = offers || { ...state.offers };
      delete offers[id];
    }
  }
  return offers ? { ...state, offers } : state;
}

let lastTabs = null;

/**
 * The list tabs: Mine, one per team inbox the user may list, Waiting. The same tabs (and
 * `match` functions) while the user and the teams stay the same, so their rows are kept.
 */
export function buildTabs(meId, teams) {
  if (lastTabs && lastTabs.meId === meId && lastTabs.teams === teams) return lastTabs.tabs;
  const tabs = makeTabs(meId, teams);
  lastTabs = { meId, teams, tabs };
  return tabs;
}

function makeTabs(meId, teams) {
  const tabs = [
    {
      key: 'mine',
      labelKey: 'tab.mine',
      queries: [
        { assignee: 'me', status: 'assigned' },
        { assignee: 'me', status: 'snoozed' },
      ],
      match: (c) => c.assignee === meId && (c.status === 'assigned' || c.status === 'snoozed'),
    },
  ];
  for (const t of teams || []) {
    if (!t || typeof t.id !== 'string' || t.queue_length === null) continue;
    tabs.push({
      key: 'team:' + t.id,
      label: t.name || t.id,
      queries: OPEN_STATUSES.map((status) => ({ team: t.id, status })),
      match: (c) => c.team === t.id && OPEN_STATUSES.includes(c.status),
    });
  }
  tabs.push({
    key: 'waiting',
    labelKey: 'tab.waiting',
    queries: [{ status: 'waiting' }],
    match: (c) => c.status === 'waiting',
  });
  return tabs;
}

/** Newest first; the same time by id. */
function newer(a, b) {
  return (b.updated_at || 0) - (a.updated_at || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function computeRows(state, tab) {
  const entry = state.lists[tab.key];
  const ids = new Set(entry ? entry.ids : []);
  if (tab.match) {
    for (const id in state.conversations) if (tab.match(state.conversations[id])) ids.add(id);
  }
  const rows = [];
  for (const id of ids) {
    const c = state.conversations[id];
    if (c && (!tab.match || tab.match(c))) rows.push(c);
  }
  return rows.sort(newer);
}

/** Rows of a live tab moved on by the conversations changed since `rev` (null: recompute). */
function followChanges(state, tab, rows, rev) {
  const changes = state.changes || [];
  if (!changes.length || changes[0].rev > rev + 1) return null;
  const changed = new Set();
  for (let i = changes.length - 1; i >= 0 && changes[i].rev > rev; i--) changed.add(changes[i].id);
  if (changed.size > 64) return null;
  const out = rows.filter((c) => !changed.has(c.id));
  for (const id of changed) {
    const c = state.conversations[id];
    if (!c || !tab.match(c)) continue;
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newer(out[mid], c) <= 0) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, c);
  }
  return out;
}

/** The last rows computed per tab, to move on from (module-level: derived, not state). */
const rowCache = new Map();

/**
 * The conversations a tab shows: what REST listed and what events since made match, newest
 * first. Computed once per change: a live tab moves on by the ids that changed (O(changed)),
 * a REST answer or a search recomputes.
 */
export function listRows(state, tab) {
  const entry = state.lists[tab.key];
  const rev = state.rev || 0;
  const hit = rowCache.get(tab.key);
  if (hit && hit.conversations === state.conversations && hit.entry === entry && hit.match === tab.match) {
    if (hit.rev === rev) return hit.rows;
    const rows = tab.match && hit.rev < rev ? followChanges(state, tab, hit.rows, hit.rev) : null;
    if (rows) {
      rowCache.set(tab.key, { ...hit, rev, rows });
      return rows;
    }
  }
  const rows = computeRows(state, tab);
  if (rowCache.size > 32) rowCache.clear();
  rowCache.set(tab.key, { conversations: state.conversations, entry, match: tab.match, rev, rows });
  return rows;
}

/** Unread inbound messages over every conversation. */
export function unreadTotal(state) {
  let n = 0;
  for (const v of Object.values(state.unread)) n += v;
  return n;
}
