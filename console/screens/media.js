// Media in the transcript: a message's file fetched with the bearer token as a Blob and shown
// through an object URL (the page's CSP allows `blob:` for images and media): images inline,
// enlarged in a dialog on click; stickers; audio and video players; documents as a download
// with their file name. While the gateway is still downloading a customer's file it says so
// and asks again; a file that could not be had says "unavailable". Also the composer's
// attachment preview.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { fetchMedia } from '../lib/api.js';
import { Modal } from './common.js';

/**
 * The media id a message names: an agent's upload (`source.id`, or `source.stored` for a file
 * sent from the gateway's store) or a customer's (`media.id`); a customer's file that came as a
 * link (Messenger, Instagram) is `message:<message id>`.
 */
export function mediaIdOf(body, messageId) {
  if (!body || typeof body !== 'object') return null;
  const id = (body.source && (body.source.id || body.source.stored)) || (body.media && body.media.id);
  if (typeof id === 'string' && id) return id;
  if (body.media && typeof body.media.url === 'string' && body.media.url && messageId) return 'message:' + messageId;
  return null;
}

/** Object URLs of files fetched, by media id (the most recent ones; older ones are revoked). */
const cache = new Map();
const CACHE_MAX = 60;

function remember(id, url) {
  cache.set(id, url);
  while (cache.size > CACHE_MAX) {
    const [oldest, old] = cache.entries().next().value;
    cache.delete(oldest);
    URL.revokeObjectURL(old);
  }
}

/** `{ state, url }` of a media id: loading, pending (asked again after Retry-After), ready, unavailable, error. */
function useMedia(id, eager) {
  const [media, setMedia] = useState(() => (cache.has(id) ? { state: 'ready', url: cache.get(id) } : { state: eager ? 'loading' : 'idle' }));
  const [wanted, setWanted] = useState(eager);
  useEffect(() => {
    if (!wanted || cache.has(id)) {
      if (cache.has(id)) setMedia({ state: 'ready', url: cache.get(id) });
      return undefined;
    }
    let live = true;
    let timer = null;
    const load = async () => {
      try {
        const got = await fetchMedia(id);
        if (!live) return;
        if (got.state === 'ready') {
          const url = URL.createObjectURL(got.blob);
          remember(id, url);
          setMedia({ state: 'ready', url });
        } else if (got.state === 'pending') {
          setMedia({ state: 'pending' });
          timer = setTimeout(load, Math.max(1, got.retryAfter) * 1000);
        } else {
          setMedia({ state: 'unavailable' });
        }
      } catch {
        if (live) setMedia({ state: 'error' });
      }
    };
    setMedia((m) => (m.state === 'ready' ? m : { state: 'loading' }));
    load();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [id, wanted]);
  return [media, () => setWanted(true)];
}

function fileName(body, kind) {
  const name = body && typeof body.filename === 'string' && body.filename ? body.filename : null;
  return name || t('media.file', { kind });
}

/**
 * A file that arrives after the transcript was laid out makes it taller: a reader who was at
 * the bottom stays there.
 */
function keepAtBottom(e) {
  const el = e.currentTarget;
  const log = el && el.closest ? el.closest('.transcript') : null;
  if (!log) return;
  const grown = el.getBoundingClientRect().height;
  if (log.scrollHeight - log.scrollTop - log.clientHeight < grown + 120) log.scrollTop = log.scrollHeight;
}

/** A message's media, by kind (`kindLabel` names the kind for screen readers). */
export function MediaMessage({ m, kindLabel }) {
  const id = mediaIdOf(m.body, m.id);
  const kind = m.kind;
  // Documents are fetched when asked for (they may be large); the rest at once.
  const [media, want] = useMedia(id, kind !== 'document');
  const [open, setOpen] = useState(false);
  const asked = useRef(false);
  const link = useRef(null);
  // A document asked for is saved as soon as it has arrived.
  useEffect(() => {
    if (asked.current && media.state === 'ready' && link.current) {
      asked.current = false;
      link.current.click();
    }
  }, [media.state]);
  const body = m.body || {};
  const caption = typeof body.caption === 'string' ? body.caption : body.media && typeof body.media.caption === 'string' ? body.media.caption : '';
  const label = kindLabel(kind);

  if (media.state === 'pending' || media.state === 'loading') {
    return html`<p class="media-state" data-media-state=${media.state} role="status">${media.state === 'pending' ? t('media.pending', { kind: label }) : t('media.loading')}</p>`;
  }
  if (media.state === 'unavailable' || media.state === 'error') {
    return html`<p class="media-state media-unavailable" data-media-state="unavailable">${t('media.unavailable', { kind: label })}</p>`;
  }
  if (kind === 'document') {
    const name = fileName(m.body, label);
    if (media.state !== 'ready') {
      const ask = () => {
        asked.current = true;
        want();
      };
      return html`<button type="button" class="media-document" data-media-state="idle" onClick=${ask} dir="auto">${t('media.download', { name })}</button>`;
    }
    return html`<a class="media-document" data-media-state="ready" ref=${link} href=${media.url} download=${name} dir="auto">${t('media.download', { name })}</a>`;
  }
  if (kind === 'audio') {
    return html`<audio class="media-audio" data-media-state="ready" controls preload="metadata" src=${media.url} aria-label=${label}></audio>`;
  }
  if (kind === 'video') {
    return html`<video class="media-video" data-media-state="ready" controls preload="metadata" src=${media.url} onLoadedMetadata=${keepAtBottom} aria-label=${caption || label}></video>`;
  }
  if (kind === 'sticker') {
    return html`<img class="media-sticker" data-media-state="ready" src=${media.url} alt=${label} onLoad=${keepAtBottom} />`;
  }
  const alt = caption || label;
  return html`
    <button type="button" class="media-thumb" data-media-state="ready" onClick=${() => setOpen(true)} aria-label=${t('media.enlarge', { kind: label })}>
      <img class="media-image" src=${media.url} alt=${alt} onLoad=${keepAtBottom} />
    </button>
    ${open && html`
      <${Modal} id="media-viewer" title=${alt} onClose=${() => setOpen(false)}>
        <img class="media-full" src=${media.url} alt=${alt} />
      <//>`}
  `;
}

/** The composer's file before it is sent: a thumbnail for an image, else its name and size. */
export function AttachmentPreview({ file, onRemove, progress }) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    if (!file || !String(file.type).startsWith('image/')) return undefined;
    const u = URL.createObjectURL(file);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [file]);
  const size = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(file.size / 1024);
  return html`
    <div class="attachment-preview" id="attachment-preview">
      ${url && html`<img class="attachment-thumb" src=${url} alt="" />`}
      <span class="attachment-name" dir="auto">${file.name || t('media.pasted')}</span>
      <span class="muted">${t('media.size_kb', { size })}</span>
      ${progress !== null
        ? html`<progress class="attachment-progress" max="1" value=${progress} aria-label=${t('media.uploading')}></progress>`
        : html`<button type="button" class="button attachment-remove" onClick=${onRemove}>${t('media.remove')}</button>`}
    </div>
  `;
}
