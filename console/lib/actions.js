// What the screens ask for: login and logout, loading over REST, the live connection, and the
// agent's actions on conversations. Every result lands in the store.

import { api, ApiError, query, setToken, setUnauthorizedHandler, upload } from './api.js';
import { store } from './store.js';
import { connectLive } from './live.js';
import {
  applyDetail,
  applyEvent,
  applyList,
  applyLive,
  applyNews,
  buildTabs,
  emptyWorkspace,
  mergeConversations,
  mergeMessages,
  reconcileOffers,
  unreadTotal,
  upsertConversation,
} from './model.js';
import { applyActivity, nextActivity, pageOf, searchQuery, searchTab } from './inbox.js';
import { loadLocale, pickLocale, t, K } from './i18n.js';
import { configure as configureFormat } from './format.js';
import { rfc3339, validTimeZone } from './zoned.js';
import { noticeEvent, quiet, startNotifications, stopNotifications } from './notify.js';

const SESSION_KEY = 'sb.session';
const LANGUAGE_KEY = 'sb.language';
const VIEW_KEY = 'sb.view';
const POLL_MS = 30_000;
/** A page of a list. */
const PAGE = 100;
/** How often the open conversation's activity is looked at (`viewing` every 20 s, typing stopped). */
const ACTIVITY_TICK_MS = 2_000;
/** How often an open conversation someone else holds is reloaded (its events go to them, not me). */
const FOREIGN_POLL_MS = 10_000;

let live = null;
let pollTimer = null;
let foreignTimer = null;
let activityTimer = null;
/** What the server was last told of my activity (lib/inbox.js nextActivity). */
let activityLast = null;
let firstHelloTimer = null;
let helloSeen = false;
let loadedBeforeHello = false;
/** Lists load only once the first load ran (after the websocket's hello, or its timeout). */
let ready = false;
const timers = new Map();

function later(name, ms, fn) {
  clearTimeout(timers.get(name));
  timers.set(name, setTimeout(() => {
    timers.delete(name);
    fn();
  }, ms));
}

function clearTimers() {
  for (const id of timers.values()) clearTimeout(id);
  timers.clear();
  clearTimeout(firstHelloTimer);
  clearInterval(pollTimer);
  clearInterval(foreignTimer);
  clearInterval(activityTimer);
}

function storageGet(area, key) {
  try {
    return area.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(area, key, value) {
  try {
    if (value === null) area.removeItem(key);
    else area.setItem(key, value);
  } catch {
    // Private mode or full: the console still works, it only forgets sooner.
  }
}

function meId() {
  const s = store.get();
  return s.session && s.session.user ? s.session.user.id : null;
}

function seqKey(userId) {
  return 'sb.seq.' + userId;
}

function readSession() {
  try {
    const s = JSON.parse(storageGet(sessionStorage, SESSION_KEY) || 'null');
    if (!s || typeof s.token !== 'string' || !s.user || typeof s.user.id !== 'string') return null;
    if (typeof s.expires_at === 'number' && s.expires_at <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

function readSeq(userId) {
  const n = Number(storageGet(sessionStorage, seqKey(userId)));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** The language picked on the login screen, if any. */
export function loginLanguage() {
  return storageGet(localStorage, LANGUAGE_KEY);
}

async function setLocale(code, timeZone) {
  const locale = await loadLocale(code);
  configureFormat(locale, timeZone);
  store.set({ locale, timeZone });
  updateTitle();
}

/**
 * The user's language: one picked on the login screen for this session, else the profile's,
 * else one picked on this device before, else the browser's. (The profile always has one, `en`
 * unless set, so a choice made while logging in has to come first to mean anything.)
 */
function userLocale(user, session = store.get().session) {
  return pickLocale(session && session.language, user && user.language, loginLanguage(), navigator.language);
}

export function updateTitle() {
  const n = unreadTotal(store.get());
  document.title = n > 0 ? `(${n}) ${t('app.title')}` : t('app.title');
}

/** The one-time token of a password link (`/#/reset?token=…`, from an invite or a reset), if the page was opened with one. */
function resetTokenInUrl() {
  const m = /^#\/reset\?(.*)$/.exec(location.hash || '');
  if (!m) return null;
  const token = new URLSearchParams(m[1]).get('token');
  return token && token.length <= 512 ? token : null;
}

/** First thing: a password link shows its form; a session kept in this tab goes straight to the workspace. */
export async function boot() {
  setUnauthorizedHandler(() => endSession(K('notice.session_ended')));
  document.addEventListener('visibilitychange', onVisibility);
  const resetToken = resetTokenInUrl();
  const session = readSession();
  if (resetToken) {
    await setLocale(pickLocale(loginLanguage(), navigator.language), undefined);
    store.set({ screen: 'reset', resetToken });
  } else if (session) {
    await startWorkspace(session);
  } else {
    await setLocale(pickLocale(loginLanguage(), navigator.language), undefined);
    store.set({ screen: 'login' });
  }
}

/** Sets the password with the link's one-time token; rejects with ApiError. Then: the login screen. */
export async function resetPassword(password) {
  await api('POST', '/api/v1/auth/reset', { token: store.get().resetToken, password });
  leaveReset(K('notice.password_set'));
}

/** From the password link's form to the login screen (the token leaves the address bar). */
export function leaveReset(noticeKey = null) {
  try {
    history.replaceState(null, '', location.pathname + location.search);
  } catch {
    // An old browser keeps the hash; the token in it is used or left unused either way.
  }
  store.set({ screen: 'login', resetToken: null, loginNotice: noticeKey });
}

export async function chooseLoginLanguage(code) {
  storageSet(localStorage, LANGUAGE_KEY, code);
  await setLocale(code, store.get().timeZone);
}

/**
 * Logs in; rejects with ApiError for the login screen to explain. `language`: the one the user
 * picked on the login screen, if they did.
 */
export async function login(email, password, language = null) {
  const answer = await api('POST', '/api/v1/auth/login', { email, password });
  if (!answer || typeof answer.token !== 'string' || !answer.user || typeof answer.user.id !== 'string') {
    throw new ApiError(0, 'bad_answer', 'the server answered without a session');
  }
  const session = { token: answer.token, user: answer.user, expires_at: answer.expires_at ?? null, language };
  storageSet(sessionStorage, SESSION_KEY, JSON.stringify(session));
  await startWorkspace(session);
}

async function startWorkspace(session) {
  setToken(session.token);
  const timeZone = validTimeZone(session.user.time_zone);
  await setLocale(userLocale(session.user, session), timeZone);
  store.set((s) => ({
    ...s,
    ...emptyWorkspace(),
    screen: 'workspace',
    session,
    lastSeq: readSeq(session.user.id),
    view: storageGet(sessionStorage, VIEW_KEY) || 'inbox',
  }));
  helloSeen = false;
  loadedBeforeHello = false;
  ready = false;
  openLive(session);
  // The first load waits for the websocket's hello (so no event falls between the two), but
  // not for long.
  firstHelloTimer = setTimeout(() => {
    if (!helloSeen) {
      loadedBeforeHello = true;
      refreshAll();
    }
  }, 1500);
  pollTimer = setInterval(pollVisibleTab, POLL_MS);
  foreignTimer = setInterval(pollForeignDetail, FOREIGN_POLL_MS);
  activityTimer = setInterval(() => activity('tick'), ACTIVITY_TICK_MS);
  startNotifications({ open: openConversation });
}

function openLive(session) {
  if (live) live.close();
  live = connectLive(session.token, {
    // Before the first hello of a fresh start there is nothing to resume from.
    after: () => (helloSeen || store.get().lastSeq > 0 ? store.get().lastSeq : null),
    onState: (connection) => {
      if (store.get().connection === connection) return;
      // Who else is where: unknown while away (the server says again after the hello).
      if (connection !== 'connected') {
        activityLast = null;
        store.set({ connection, activity: {} });
      } else store.set({ connection });
    },
    onHello: (frame) => {
      onHello(frame);
      activity('open');
    },
    onEvent,
    onActivity: (frame) => store.set((s) => {
      const next = applyActivity(s.activity, frame, meId());
      return next === s.activity ? s : { ...s, activity: next };
    }),
    onNews: (frame) => {
      store.set((s) => applyNews(s, frame.conversation));
      // The board's queues and loads move with it.
      if (store.get().view === 'board') later('teams', 1000, refreshTeams);
    },
    onLive: (frame) => store.set((s) => applyLive(s, frame)),
    onResync: (frame) => {
      // What came before `oldest_seq` is lost: REST reloads it, and the replay that follows
      // starts at `oldest_seq` without counting as a gap.
      const oldest = typeof frame.oldest_seq === 'number' ? frame.oldest_seq : 0;
      if (oldest - 1 > store.get().lastSeq) store.set({ lastSeq: oldest - 1 });
      resync();
    },
    onRetry: (attempt) => {
      // A socket that keeps failing may be a session that ended: ask REST, whose 401 logs out.
      if (attempt >= 2) api('GET', '/api/v1/me').catch(() => {});
    },
  });
}

function onHello(hello) {
  const s = store.get();
  const last = typeof hello.last_seq === 'number' ? hello.last_seq : 0;
  const first = !helloSeen;
  helloSeen = true;
  clearTimeout(firstHelloTimer);
  store.set({ everConnected: true });
  if (s.lastSeq === 0 || last < s.lastSeq) {
    // A fresh start, or a server whose log restarted: from here on, and reload what we show.
    const reset = s.lastSeq > 0;
    store.set({ lastSeq: last });
    storageSet(sessionStorage, seqKey(meId()), String(last));
    if (reset || loadedBeforeHello || first) {
      loadedBeforeHello = false;
      resync();
    }
    return;
  }
  if (first) refreshAll();
}

function onEvent(frame) {
  const id = meId();
  const result = applyEvent(store.get(), frame, { meId: id, hidden: document.hidden });
  if (result.ignored) return;
  store.set(result.state);
  storageSet(sessionStorage, seqKey(id), String(result.state.lastSeq));
  noticeEvent(frame, result.state, id);
  if (frame.kind === 'webhook.disabled' && frame.data && frame.data.webhook) {
    notify(t('webhooks.disabled_notice', { url: String(frame.data.webhook.url || '') }));
  }
  for (const effect of result.effects) {
    if (effect === 'resync') later('resync', 200, resync);
    else if (effect === 'me') later('me', 600, refreshMe);
    else if (effect === 'detail') later('detail', 400, refreshDetail);
    else if (effect === 'offer') announce(t('offer.announce'));
    else if ((effect === 'presence' || effect === 'board') && store.get().view === 'board') {
      later('teams', 400, refreshTeams);
    }
  }
  updateTitle();
}

function onVisibility() {
  activity(document.hidden ? 'close' : 'open');
  const s = store.get();
  if (!document.hidden && s.openId && s.unread[s.openId]) {
    const unread = { ...s.unread };
    delete unread[s.openId];
    store.set({ unread });
    updateTitle();
  }
}

/** A polite message for screen readers (the offers region is live too). */
export function announce(text) {
  store.set({ announcement: { text, at: Date.now() } });
}

/** Shows a short notice in the workspace (an action that failed). */
export function notify(text, kind = 'error') {
  store.set({ notice: { text, kind, at: Date.now() } });
  later('notice', 8000, () => store.set({ notice: null }));
}

/** Why an action failed, in the user's words (with the server's reason where it gives one). */
export function explain(e) {
  if (!(e instanceof ApiError)) return t('error.unexpected');
  const reason = e.code && !e.code.startsWith('http_') && e.message ? e.message : null;
  switch (e.status) {
    case 0:
      return t('error.network');
    case 400:
      return t('error.bad_request', { message: e.message });
    case 403:
      return reason ? t('error.forbidden_reason', { message: reason }) : t('error.forbidden');
    case 404:
      return t('error.not_found');
    case 409:
      return reason ? t('error.conflict_reason', { message: reason }) : t('error.conflict');
    case 422:
      return e.code === 'window_closed' ? t('composer.window_refused', { message: e.message }) : t('error.server', { message: e.message });
    case 429:
      return e.code === 'messaging_limit'
        ? t('error.messaging_limit', { hours: Math.max(1, Math.ceil((e.retryAfter ?? 3600) / 3600)) })
        : t('error.throttled', { seconds: e.retryAfter ?? 1 });
    case 503:
      return t('error.unavailable');
    default:
      return t('error.server', { message: e.message });
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

/** After a resync (or a hello that says we lost track): reload everything shown. */
export function resync() {
  store.set((s) => {
    const lists = {};
    for (const [k, v] of Object.entries(s.lists)) lists[k] = { ...v, stale: true };
    return { ...s, lists };
  });
  refreshAll();
  if (store.get().openId) refreshDetail();
}

/** Reload me, teams and the lists shown; calls close together (a hello, then a resync) run once. */
function refreshAll() {
  later('all', 100, reloadAll);
}

function reloadAll() {
  ready = true;
  Promise.all([refreshMe(), refreshTeams()]).then(() => {
    const tab = currentTab();
    loadTab(tab, true);
    if (tab.key !== 'mine') loadTab(tabByKey('mine'), true);
  });
}

export async function refreshMe() {
  const started = store.get().clock;
  try {
    const me = await api('GET', '/api/v1/me');
    if (!me || !me.user) return;
    let s = { ...store.get(), me };
    s = reconcileOffers(s, me.agent && me.agent.offered, started);
    store.set(s);
    const locale = userLocale(me.user);
    const timeZone = validTimeZone(me.user.time_zone);
    if (locale !== s.locale || timeZone !== s.timeZone) await setLocale(locale, timeZone);
    loadMissingOffers(me.agent && me.agent.offered);
  } catch (e) {
    if (e.status !== 401) notify(explain(e));
  }
}

/** Offers /me lists that no event told us of (a reload): shown without a countdown. */
async function loadMissingOffers(ids) {
  for (const id of (ids || []).slice(0, 10)) {
    if (store.get().offers[id]) continue;
    const started = store.get().clock;
    try {
      const body = await api('GET', `/api/v1/conversations/${encodeURIComponent(id)}`);
      if (!body || !body.conversation) continue;
      store.set((s) => {
        if (s.offers[id]) return s;
        const next = mergeConversations(s, [body.conversation], started);
        return { ...next, offers: { ...next.offers, [id]: { conversation: body.conversation, expires_at: null, clock: started } } };
      });
    } catch {
      // Gone meanwhile.
    }
  }
}

export async function refreshTeams() {
  try {
    const body = await api('GET', '/api/v1/teams');
    if (body && Array.isArray(body.teams)) store.set({ teams: body.teams, teamsAt: Date.now() });
  } catch (e) {
    if (e.status !== 401) notify(explain(e));
  }
}

export function tabs() {
  const s = store.get();
  return buildTabs(meId(), s.teams);
}

function tabByKey(key) {
  return tabs().find((x) => x.key === key) || tabs()[0];
}

/** The tab shown: the search (its text and filters) while there is one, else the chosen tab. */
export function currentTab() {
  const s = store.get();
  const q = searchQuery(s.search, s.filters);
  return q ? searchTab(q) : tabByKey(s.tab);
}

function setEntry(key, patch) {
  store.set((s) => ({ ...s, lists: { ...s.lists, [key]: { ids: [], ...s.lists[key], ...patch } } }));
}

/**
 * Loads a tab over REST from its first page (if never loaded, stale, or `force`). A tab asks
 * one query per status it shows; each keeps its own cursor for the pages after (`next`: one
 * per query, null when that one is done).
 */
export async function loadTab(tab, force = false) {
  if (!ready) return;
  const before = store.get().lists[tab.key];
  if (before && !force && !before.stale) return;
  if (before && before.loading) return;
  const started = store.get().clock;
  setEntry(tab.key, { loading: true, error: null });
  try {
    const pages = (
      await Promise.all(tab.queries.map((q) => api('GET', '/api/v1/conversations' + query({ limit: PAGE, ...q }))))
    ).map(pageOf);
    const list = pages.flatMap((p) => p.conversations);
    store.set((s) => applyList(s, tab.key, list, started, { next: pages.map((p) => p.next) }));
  } catch (e) {
    setEntry(tab.key, { loading: false, error: explain(e) });
  }
}

/** Whether a list has pages after what it shows. */
export function hasMore(entry) {
  return !!entry && Array.isArray(entry.next) && entry.next.some(Boolean);
}

/** The next page of a list (as it scrolls to its end): each query with a cursor asks `before=` it. */
export async function loadMore(tab) {
  const entry = store.get().lists[tab.key];
  if (!ready || !hasMore(entry) || entry.loading || entry.loadingMore) return;
  const started = store.get().clock;
  setEntry(tab.key, { loadingMore: true });
  try {
    const pages = await Promise.all(
      tab.queries.map((q, i) =>
        entry.next[i]
          ? api('GET', '/api/v1/conversations' + query({ limit: PAGE, ...q, before: entry.next[i] })).then(pageOf)
          : { conversations: [], next: null },
      ),
    );
    store.set((s) => {
      // The list was reloaded from its start meanwhile: this page belongs to the old one.
      if (s.lists[tab.key] && s.lists[tab.key].next !== entry.next) return s;
      const list = pages.flatMap((p) => p.conversations);
      return applyList(s, tab.key, list, started, { next: pages.map((p) => p.next), append: true });
    });
  } catch (e) {
    setEntry(tab.key, { loadingMore: false, error: explain(e) });
  }
}

export function selectTab(key) {
  store.set({ tab: key });
  // Team inboxes and the waiting line change without events to us: fresh on every visit.
  const tab = tabByKey(key);
  loadTab(tab, key !== 'mine');
}

/**
 * Runs the search shown, 300 ms after the last call (each key typed calls it, through the
 * list's effect on the search's key), from its first page.
 */
export function searchSoon() {
  later('search', 300, () => {
    const tab = currentTab();
    if (tab.search) loadTab(tab, true);
  });
}

/** The search's free text (customer name, phone digits, message text); the list runs it. */
export function setSearch(text) {
  store.set({ search: text });
}

/** One of the search's filters (`status`, `channel`, `team`, `assignee`, `tag`); '' clears it. */
export function setFilter(key, value) {
  store.set((s) => ({ ...s, filters: { ...s.filters, [key]: value } }));
}

/** Back to the tabs: no text, no filters. */
export function clearSearch() {
  store.set({ search: '', filters: {} });
}

/** Opens a dialog of the workspace (`transfer`, `snooze`, `help`), or closes it (null). */
export function openDialog(name) {
  store.set({ dialog: name });
}

/** Transfer's dialog, with fresh teams (presence, load) and a fresh conversation. */
export function startTransfer() {
  refreshTeams();
  refreshDetail();
  openDialog('transfer');
}

// ---------------------------------------------------------------------------------------------
// Who else is here: my activity, told to the server over the websocket

/**
 * `event`: `open` (a conversation shown, or the page back in view), `tick`, `input` (the
 * composer changed), `close` (none shown, the page hidden, logging out). What to send is
 * lib/inbox.js nextActivity's call.
 */
export function activity(event) {
  const s = store.get();
  const listOnly = s.pane === 'list' && window.matchMedia('(max-width: 720px)').matches;
  const shown = s.screen === 'workspace' && s.view === 'inbox' && !document.hidden && !listOnly && s.detail ? s.detail.id : null;
  if (event !== 'close' && !shown) {
    if (activityLast) event = 'close';
    else return;
  }
  const r = nextActivity(activityLast, event, shown, Date.now());
  activityLast = r.last;
  for (const frame of r.frames) if (live) live.send(frame);
}


function pollVisibleTab() {
  const s = store.get();
  if (document.hidden || s.screen !== 'workspace') return;
  const tab = currentTab();
  // Mine follows events; a search is a snapshot the user may have paged deep into (its rows
  // still follow events): neither is reloaded from its first page under the user's eyes.
  if (tab.key !== 'mine' && !tab.search) loadTab(tab, true);
}

/**
 * A supervisor (or an admin) looking at a conversation they do not hold gets no events about it
 * (they go to the agents involved): it is reloaded while it is shown.
 */
function pollForeignDetail() {
  const s = store.get();
  if (document.hidden || s.screen !== 'workspace' || s.view !== 'inbox' || !s.detail) return;
  const c = s.detail.conversation;
  if (c && c.assignee !== meId() && c.status !== 'resolved') refreshDetail();
}

// ---------------------------------------------------------------------------------------------
// The open conversation

/** Shows the inbox, the board or administration (what the role may open: see viewFor). */
export function setView(view) {
  storageSet(sessionStorage, VIEW_KEY, view);
  const back = view === 'inbox' && store.get().view !== 'inbox';
  store.set({ view });
  activity(view === 'inbox' ? 'open' : 'close');
  // What happened meanwhile to the open conversation may not have come as events (not mine).
  if (back && store.get().detail) refreshDetail();
}

export async function openConversation(id) {
  const started = store.get().clock;
  if (store.get().view !== 'inbox') {
    // From the board: the inbox shows it (this very load is fresh, no reload needed).
    storageSet(sessionStorage, VIEW_KEY, 'inbox');
    store.set({ view: 'inbox' });
  }
  store.set((s) => {
    const unread = { ...s.unread };
    delete unread[id];
    const same = s.detail && s.detail.id === id;
    return {
      ...s,
      unread,
      openId: id,
      pane: 'conversation',
      dialog: same ? s.dialog : null,
      detail: same ? s.detail : { id, loading: true, error: null, conversation: s.conversations[id] || null, messages: [], contact: null, history: [], events: [] },
    };
  });
  activity('open');
  updateTitle();
  try {
    const body = await api('GET', `/api/v1/conversations/${encodeURIComponent(id)}`);
    store.set((s) => applyDetail(s, body, started));
  } catch (e) {
    store.set((s) => (s.detail && s.detail.id === id ? { ...s, detail: { ...s.detail, loading: false, error: explain(e) } } : s));
  }
}

export async function refreshDetail() {
  const s = store.get();
  if (!s.detail) return;
  const id = s.detail.id;
  const started = s.clock;
  try {
    const body = await api('GET', `/api/v1/conversations/${encodeURIComponent(id)}`);
    store.set((st) => applyDetail(st, body, started));
  } catch {
    // The next event or reload will tell.
  }
}

export function closeConversation() {
  store.set({ pane: 'list' });
  activity('open'); // on a phone the list replaces it: no longer viewing (activity says idle)
}

export function showPane(pane) {
  store.set({ pane });
  activity('open');
}

function addMessage(id, message) {
  if (!message) return;
  store.set((s) => (s.detail && s.detail.id === id ? { ...s, detail: { ...s.detail, messages: mergeMessages(s.detail.messages, [message]) } } : s));
  // A send's later progress (accepted, failed) has no event: look again in a moment.
  if (message.direction === 'outbound') later('sent', 5000, refreshDetail);
}

/** Sends a reply (or a note); rejects with ApiError. */
export async function send(id, text, note) {
  const path = `/api/v1/conversations/${encodeURIComponent(id)}/${note ? 'notes' : 'messages'}`;
  const body = await api('POST', path, { text });
  addMessage(id, body && body.message);
}

/** Sends a file (with an optional caption) as an attachment; rejects with ApiError. */
export async function sendAttachment(id, file, caption, onProgress) {
  const form = new FormData();
  form.append('file', file, file.name || 'attachment');
  if (caption) form.append('caption', caption);
  const body = await upload(`/api/v1/conversations/${encodeURIComponent(id)}/attachments`, form, onProgress);
  addMessage(id, body && body.message);
}

export async function sendQuickReply(id, shortcut) {
  const body = await api('POST', `/api/v1/conversations/${encodeURIComponent(id)}/messages`, { quick_reply: shortcut });
  addMessage(id, body && body.message);
}

/** The approved templates an agent may send in a conversation, with what each asks for; rejects with ApiError. */
export async function loadTemplates(id) {
  return api('GET', `/api/v1/conversations/${encodeURIComponent(id)}/templates`);
}

/** A template filled with its values as the customer will see it: `{preview, components}`; rejects with ApiError (422: what is wrong). */
export async function previewTemplate(channel, fill) {
  return api('POST', '/api/v1/templates/preview', { channel, ...fill });
}

/** Sends a template (`{name, language, header?, body?, buttons?}`); rejects with ApiError. */
export async function sendTemplate(id, fill) {
  const body = await api('POST', `/api/v1/conversations/${encodeURIComponent(id)}/messages`, { template: fill });
  addMessage(id, body && body.message);
}

export async function loadQuickReplies() {
  if (store.get().quickReplies) return;
  try {
    const body = await api('GET', '/api/v1/quick-replies');
    store.set({ quickReplies: body && Array.isArray(body.quick_replies) ? body.quick_replies : [] });
  } catch (e) {
    notify(explain(e));
  }
}

/** An action on a conversation: null when done, else why not (in the user's words). */
async function conversationAction(id, verb, body) {
  try {
    const answer = await api('POST', `/api/v1/conversations/${encodeURIComponent(id)}/${verb}`, body);
    if (answer && answer.conversation) store.set((s) => upsertConversation(s, answer.conversation));
    return null;
  } catch (e) {
    // What the server says now may differ from what this console showed: look again.
    if (e.status === 403 || e.status === 409) later('detail', 300, refreshDetail);
    return explain(e);
  }
}

export async function resolve(id) {
  const error = await conversationAction(id, 'resolve');
  notify(error || t('notice.resolved'), error ? 'error' : 'info');
}

/** `target`: `{team}` or `{agent}`. Resolves to null when done, else why not (for the dialog to show). */
export async function transfer(id, target) {
  const error = await conversationAction(id, 'transfer', target);
  if (!error) notify(t('notice.transferred'), 'info');
  return error;
}

/** Resolves to null when done, else why not (for the dialog to show). */
export async function snooze(id, untilMs) {
  const error = await conversationAction(id, 'snooze', { until: rfc3339(untilMs) });
  if (!error) notify(t('notice.snoozed'), 'info');
  return error;
}

/** `state` with conversation `id`'s contact now `contact`: the panel, and the name the list and the header show. */
function withContact(state, id, contact) {
  const named = (c) => (c && c.customer ? { ...c, customer: { ...c.customer, name: contact.name ?? null } } : c);
  const s = { ...state };
  if (s.conversations[id]) s.conversations = { ...s.conversations, [id]: named(s.conversations[id]) };
  if (s.detail && s.detail.id === id) {
    s.detail = { ...s.detail, contact: { ...(s.detail.contact || {}), ...contact }, conversation: named(s.detail.conversation) };
  }
  return s;
}

/**
 * Saves an edit of conversation `id`'s contact (`{name, email, tags}`…, as the contacts API
 * takes it): null when done, else why not (for the form to show).
 */
export async function editContact(id, patch) {
  try {
    const body = await api('PATCH', `/api/v1/conversations/${encodeURIComponent(id)}/contact`, patch);
    const contact = body && body.contact;
    if (contact) store.set((s) => withContact(s, id, contact));
    notify(t('customer.saved'), 'info');
    return null;
  } catch (e) {
    return explain(e);
  }
}

export async function reveal(id) {
  try {
    const body = await api('POST', `/api/v1/conversations/${encodeURIComponent(id)}/reveal`);
    store.set((s) => (s.detail && s.detail.id === id ? { ...s, detail: { ...s.detail, revealed: body && body.phone } } : s));
  } catch (e) {
    notify(explain(e));
  }
}

function dropOffer(id) {
  store.set((s) => {
    if (!s.offers[id]) return s;
    const offers = { ...s.offers };
    delete offers[id];
    return { ...s, offers };
  });
}

export async function acceptOffer(id) {
  quiet(id);
  try {
    const body = await api('POST', `/api/v1/conversations/${encodeURIComponent(id)}/accept`);
    dropOffer(id);
    if (body && body.conversation) store.set((s) => upsertConversation(s, body.conversation));
    later('me', 300, refreshMe);
    openConversation(id);
  } catch (e) {
    if (e.status === 409 || e.status === 404) dropOffer(id);
    notify(e.status === 409 ? t('offer.gone') : explain(e));
  }
}

export async function rejectOffer(id) {
  try {
    await api('POST', `/api/v1/conversations/${encodeURIComponent(id)}/reject`);
    dropOffer(id);
  } catch (e) {
    if (e.status === 409 || e.status === 404) {
      dropOffer(id);
      notify(t('offer.gone'), 'info');
    } else notify(explain(e));
  }
}

/** Removes an offer whose time is up (the server's event may come later, or never to us). */
export function expireOffer(id) {
  dropOffer(id);
}

// ---------------------------------------------------------------------------------------------
// Me

export async function setPresence(presence) {
  const s = store.get();
  const before = s.me && s.me.agent ? s.me.agent.presence : null;
  const put = (p) =>
    store.set((st) => (st.me && st.me.agent ? { ...st, me: { ...st.me, agent: { ...st.me.agent, presence: p } } } : st));
  put(presence);
  try {
    await api('PUT', '/api/v1/me/presence', { presence });
  } catch (e) {
    put(before);
    notify(explain(e));
  }
}

export async function logout() {
  try {
    await api('POST', '/api/v1/auth/logout');
  } catch {
    // Over on this side either way.
  }
  endSession(null);
}

/** Ends every session of mine, this one too; rejects with ApiError (and stays) if the server refuses. */
export async function logoutEverywhere() {
  await api('DELETE', '/api/v1/auth/sessions');
  endSession(K('notice.logged_out_everywhere'));
}

function endSession(noticeKey) {
  const id = meId();
  activity('close');
  activityLast = null;
  clearTimers();
  stopNotifications();
  ready = false;
  if (live) live.close();
  live = null;
  setToken(null);
  storageSet(sessionStorage, SESSION_KEY, null);
  storageSet(sessionStorage, VIEW_KEY, null);
  if (id) storageSet(sessionStorage, seqKey(id), null);
  store.set((s) => ({ ...s, ...emptyWorkspace(), screen: 'login', session: null, loginNotice: noticeKey }));
  updateTitle();
}
