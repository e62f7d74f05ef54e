// The console's service worker, served at /sw.js (scope /). It keeps the shell (the page and
// the hashed files it names) for a flaky network, shows Web Push notifications (an offer, an
// assignment, a customer's message) and opens the console at the conversation when one is
// clicked. The gateway fills in SHELL and VERSION when it starts (src/http/webapp.rs).
/* global self, caches, clients */

const VERSION = 'dev';
const SHELL = [];
const CACHE = `switchboard-shell-${VERSION}`;
const STRINGS_CACHE = 'switchboard-strings';
const STRINGS_URL = '/sw-strings.json';

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(['/', ...SHELL]))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names.filter((n) => n.startsWith('switchboard-shell-') && n !== CACHE).map((n) => caches.delete(n)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && url.pathname === '/') {
    // The page: the network first (it names the newest files), the kept copy when offline.
    event.respondWith(
      fetch(request).catch(() => caches.match('/').then((r) => r || Response.error())),
    );
  } else if (url.pathname.startsWith('/assets/')) {
    // Hashed files never change: the kept copy first.
    event.respondWith(caches.match(request).then((r) => r || fetch(request)));
  }
});

async function strings() {
  try {
    const r = await caches.match(STRINGS_URL, { cacheName: STRINGS_CACHE });
    if (r) return await r.json();
  } catch {
    // The defaults below.
  }
  return {};
}

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  event.waitUntil(
    (async () => {
      const s = await strings();
      const title = s[data.kind] || s.app || 'Switchboard';
      await self.registration.showNotification(title, {
        body: typeof data.customer === 'string' ? data.customer : '',
        tag: `${data.kind || 'notice'}:${data.conversation_id || ''}`,
        renotify: data.kind === 'offer',
        requireInteraction: data.kind === 'offer',
        icon: '/assets/icon-192.png',
        data: { url: typeof data.url === 'string' ? data.url : '/', conversation_id: data.conversation_id },
      });
    })(),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const url = typeof data.url === 'string' && data.url.startsWith('/') ? data.url : '/';
  event.waitUntil(
    (async () => {
      const open = await clients.matchAll({ type: 'window', includeUncontrolled: true });
      const here = open.find((c) => new URL(c.url).origin === self.location.origin);
      if (here) {
        await here.focus();
        if (data.conversation_id) here.postMessage({ type: 'open', conversation_id: data.conversation_id });
        return;
      }
      await clients.openWindow(url);
    })(),
  );
});
