// Notifications in the tab, and Web Push through the service worker (console/sw.js): a sound
// (WebAudio, no file) and a desktop notification for an offer, an assignment and a customer's
// message in my conversations, per my settings (kept on the server: GET/PUT
// /api/v1/me/notifications); an offer nobody answered yet sounds again every few seconds until
// it is accepted, rejected or expires. Push: the console registers /sw.js at start and, when
// the user turns it on (a click: the browser asks permission), subscribes with the server's
// VAPID key and hands the subscription to the server.

import { api } from './api.js';
import { store } from './store.js';
import { t, K } from './i18n.js';
import { DEFAULT_SETTINGS, REMIND_MS, keyBytes, noticeFor, offersToRemind, wanted } from './notify-model.js';

const PUSH_KEY = 'sb.push';
/** Where the service worker finds its strings in the user's language (the Cache API). */
const STRINGS_CACHE = 'switchboard-strings';
const STRINGS_URL = '/sw-strings.json';

let settings = DEFAULT_SETTINGS;
let audio = null;
let remindTimer = null;
const lastSound = {};
/** Conversations I just acted on (accepted): their assignment is no news to me. */
const mine = new Map();
const QUIET_MS = 15_000;
let openConversation = () => {};

const TITLE_KEYS = { offer: K('notify.offer'), assignment: K('notify.assignment'), message: K('notify.message'), sla: K('notify.sla') };

function title(kind) {
  return t(TITLE_KEYS[kind]) /* i18n-dynamic */;
}

// --- settings -----------------------------------------------------------------------------------

export function notificationSettings() {
  return settings;
}

export async function loadNotificationSettings() {
  try {
    const body = await api('GET', '/api/v1/me/notifications');
    if (body && body.notifications) settings = body.notifications;
  } catch {
    // The defaults until the next start.
  }
  return settings;
}

/** Saves a change (any of the fields); rejects with ApiError and keeps the old settings. */
export async function saveNotificationSettings(change) {
  const body = await api('PUT', '/api/v1/me/notifications', change);
  if (body && body.notifications) settings = body.notifications;
  return settings;
}

// --- sound --------------------------------------------------------------------------------------

/** Browsers start audio only after a gesture: the first click or key unlocks it. */
function unlockAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume();
  } catch {
    audio = null;
  }
}

const TONES = { offer: [880, 1320], assignment: [660, 880], message: [990], sla: [660, 440, 660] };

/** A short chime made of sine tones (nothing to download). */
export function chime(kind) {
  if (!audio || audio.state !== 'running') return;
  const start = audio.currentTime;
  (TONES[kind] || TONES.message).forEach((freq, i) => {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    const at = start + i * 0.16;
    osc.type = 'sine';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.14);
    osc.connect(gain).connect(audio.destination);
    osc.start(at);
    osc.stop(at + 0.15);
  });
}

// --- desktop notifications ----------------------------------------------------------------------

export function desktopPermission() {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** Asks the browser (call it from a click). */
export async function askDesktopPermission() {
  if (typeof Notification === 'undefined') return 'unsupported';
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

function showDesktop(notice) {
  if (!settings.desktop || desktopPermission() !== 'granted') return;
  if (!document.hidden && document.hasFocus()) return;
  try {
    const n = new Notification(title(notice.kind), {
      body: notice.customer || '',
      tag: `${notice.kind}:${notice.conversationId}`,
      icon: '/assets/icon-192.png',
    });
    n.onclick = () => {
      window.focus();
      openConversation(notice.conversationId);
      n.close();
    };
  } catch {
    // Some browsers only show notifications from a service worker: push covers those.
  }
}

// --- events -------------------------------------------------------------------------------------

/** I am taking this conversation myself (accepting its offer): no notification of its assignment. */
export function quiet(conversationId) {
  mine.set(conversationId, Date.now());
}

/** An event was applied to the store: a sound and a desktop notification, if it is one of mine. */
export function noticeEvent(frame, state, meId) {
  const notice = noticeFor(frame, state, meId);
  if (!notice || !wanted(settings, notice.kind)) return;
  const actedAt = mine.get(notice.conversationId);
  if (actedAt !== undefined) {
    mine.delete(notice.conversationId);
    if (notice.kind === 'assignment' && Date.now() - actedAt < QUIET_MS) return;
  }
  if (settings.sound) chime(notice.kind);
  if (notice.kind === 'offer') lastSound[notice.conversationId] = Date.now();
  showDesktop(notice);
}

function remind() {
  if (!settings.sound || !wanted(settings, 'offer')) return;
  const offers = store.get().offers;
  const now = Date.now();
  for (const id of Object.keys(lastSound)) if (!offers[id]) delete lastSound[id];
  const due = offersToRemind(offers, lastSound, now);
  if (due.length > 0) chime('offer');
  for (const id of due) lastSound[id] = now;
}

/** After login: settings, the reminder clock, the service worker, a conversation a notification asked to open. */
export function startNotifications({ open }) {
  openConversation = open;
  document.addEventListener('pointerdown', unlockAudio, { capture: true });
  document.addEventListener('keydown', unlockAudio, { capture: true });
  loadNotificationSettings();
  clearInterval(remindTimer);
  remindTimer = setInterval(remind, Math.min(1000, REMIND_MS));
  registerWorker();
  writeWorkerStrings();
  const m = /^#\/conversations\/([\w-]{1,100})$/.exec(location.hash || '');
  if (m) {
    history.replaceState(null, '', location.pathname);
    setTimeout(() => openConversation(m[1]), 0);
  }
}

export function stopNotifications() {
  clearInterval(remindTimer);
  remindTimer = null;
  settings = DEFAULT_SETTINGS;
}

// --- service worker and push --------------------------------------------------------------------

function onWorkerMessage(e) {
  const data = e.data || {};
  if (data.type === 'open' && typeof data.conversation_id === 'string') openConversation(data.conversation_id);
}

async function registerWorker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    navigator.serviceWorker.removeEventListener('message', onWorkerMessage);
    navigator.serviceWorker.addEventListener('message', onWorkerMessage);
    return await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  } catch {
    return null;
  }
}

/** The notification titles in my language, for the service worker. */
export async function writeWorkerStrings() {
  if (typeof caches === 'undefined') return;
  try {
    const strings = { offer: title('offer'), assignment: title('assignment'), message: title('message'), sla: title('sla'), app: t('app.title') };
    const cache = await caches.open(STRINGS_CACHE);
    await cache.put(STRINGS_URL, new Response(JSON.stringify(strings), { headers: { 'Content-Type': 'application/json' } }));
  } catch {
    // The worker falls back to the app's name.
  }
}

export function pushSupported() {
  return 'serviceWorker' in navigator && typeof PushManager !== 'undefined' && typeof Notification !== 'undefined';
}

/** Whether this browser has a push subscription the server knows of. */
export async function pushEnabled() {
  if (!pushSupported()) return false;
  try {
    const reg = await navigator.serviceWorker.getRegistration('/');
    const sub = reg && (await reg.pushManager.getSubscription());
    return !!sub && !!localStorage.getItem(PUSH_KEY);
  } catch {
    return false;
  }
}

/** Turns push on for this browser (call it from a click); rejects with an Error or ApiError. */
export async function enablePush() {
  if (!pushSupported()) throw new Error('unsupported');
  const permission = await askDesktopPermission();
  if (permission !== 'granted') throw new Error('denied');
  await registerWorker();
  const reg = await navigator.serviceWorker.ready;
  const { public_key: key } = await api('GET', '/api/v1/push/key');
  let sub = await reg.pushManager.getSubscription();
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  const body = await api('POST', '/api/v1/me/push-subscriptions', sub.toJSON());
  localStorage.setItem(PUSH_KEY, body.subscription.id);
  await writeWorkerStrings();
}

/** Turns push off for this browser. */
export async function disablePush() {
  const id = localStorage.getItem(PUSH_KEY);
  localStorage.removeItem(PUSH_KEY);
  try {
    const reg = await navigator.serviceWorker.getRegistration('/');
    const sub = reg && (await reg.pushManager.getSubscription());
    if (sub) await sub.unsubscribe();
  } finally {
    if (id) await api('DELETE', `/api/v1/me/push-subscriptions/${encodeURIComponent(id)}`).catch(() => {});
  }
}
