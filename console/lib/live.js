// The console's websocket: one per tab. It resumes after the last applied sequence
// (`?after=`), reconnects with a backoff of 1 s doubling to 10 s, and pings to stay heard.
// Besides the sequenced events, frames that are not sequenced come and go: `activity` (who else
// is in a conversation), `conversation` (team inboxes) and `live` (a watched conversation).

const PING_MS = 25_000;

/**
 * Opens the live connection. `handlers`: `after()` (the last applied seq), `onState(state)`
 * ('connected' | 'reconnecting'), `onHello(frame)`, `onEvent(frame)`, `onResync(frame)`,
 * `onActivity(frame)`, `onNews(frame)` (a team inbox's conversation changed), `onLive(frame)`
 * (a message of a watched conversation), `onRetry(attempt)` (before each new attempt: may check the session).
 */
export function connectLive(token, handlers) {
  let ws = null;
  let attempt = 0;
  let retryTimer = null;
  let pingTimer = null;
  let stopped = false;

  function url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ access_token: token });
    const after = handlers.after();
    if (typeof after === 'number' && after >= 0) q.set('after', String(after));
    return `${proto}//${location.host}/api/v1/ws?${q}`;
  }

  function open() {
    retryTimer = null;
    if (stopped) return;
    let socket;
    try {
      socket = new WebSocket(url());
    } catch {
      retry();
      return;
    }
    ws = socket;
    socket.onmessage = (m) => {
      if (ws !== socket || typeof m.data !== 'string') return;
      let frame;
      try {
        frame = JSON.parse(m.data);
      } catch {
        return;
      }
      if (!frame || typeof frame !== 'object') return;
      switch (frame.type) {
        case 'hello':
          attempt = 0;
          handlers.onState('connected');
          handlers.onHello(frame);
          break;
        case 'resync':
          handlers.onResync(frame);
          break;
        case 'event':
          handlers.onEvent(frame);
          break;
        case 'activity':
          // Who else is in a conversation: not sequenced, not an event.
          if (handlers.onActivity) handlers.onActivity(frame);
          break;
        case 'conversation':
          // A conversation of a team inbox this user may list changed (not sequenced).
          if (handlers.onNews) handlers.onNews(frame);
          break;
        case 'live':
          // A message of a conversation open here that is not in this user's event log.
          if (handlers.onLive) handlers.onLive(frame);
          break;
        default:
          break; // pong, and kinds a newer server may add
      }
    };
    socket.onopen = () => {
      clearInterval(pingTimer);
      pingTimer = setInterval(() => {
        if (ws === socket && socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
      }, PING_MS);
    };
    socket.onclose = () => {
      if (ws !== socket) return;
      ws = null;
      clearInterval(pingTimer);
      if (!stopped) retry();
    };
  }

  function retry() {
    handlers.onState('reconnecting');
    const delay = Math.min(10_000, 1000 * 2 ** attempt) + Math.floor(Math.random() * 250);
    attempt += 1;
    if (handlers.onRetry) handlers.onRetry(attempt);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(open, delay);
  }

  function now() {
    if (stopped || ws) return;
    clearTimeout(retryTimer);
    open();
  }

  window.addEventListener('online', now);
  open();

  return {
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      clearInterval(pingTimer);
      window.removeEventListener('online', now);
      const s = ws;
      ws = null;
      if (s) s.close(1000);
    },
    /** Try again at once (the network came back, the user asked). */
    now,
    /** Sends a frame now if connected (else drops it: what it said is said again later). */
    send(frame) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        try {
          ws.send(JSON.stringify(frame));
        } catch {
          // Closing: the next hello says it again.
        }
      }
    },
  };
}
