// Small pieces the screens share: names, labels, icons, a ticking clock, a modal dialog.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { slaState } from '../lib/inbox.js';
import { time } from '../lib/format.js';

const STATUS_KEYS = {
  bot: K('status.bot'),
  waiting: K('status.waiting'),
  assigned: K('status.assigned'),
  snoozed: K('status.snoozed'),
  resolved: K('status.resolved'),
};

const CHANNEL_KIND_KEYS = {
  whatsapp: K('channel.whatsapp'),
  messenger: K('channel.messenger'),
  instagram: K('channel.instagram'),
  telegram: K('channel.telegram'),
  x: K('channel.x'),
  webchat: K('channel.webchat'),
};

/** The name of a kind of channel ("Web chat"); the kind itself for one the console does not know. */
export function channelKindLabel(kind) {
  const key = CHANNEL_KIND_KEYS[kind];
  return key ? t(key) : kind || ''; // i18n-dynamic
}

/** What a conversation is on: its channel's kind, and the channel's id when it says more ("WhatsApp · sales-line"). */
export function channelLabel(c) {
  if (!c) return '';
  const kind = channelKindLabel(c.channel_kind);
  if (!kind) return c.channel || '';
  return c.channel && c.channel !== c.channel_kind ? `${kind} · ${c.channel}` : kind;
}

const PRESENCE_KEYS = {
  online: K('presence.online'),
  away: K('presence.away'),
  offline: K('presence.offline'),
};

const DELIVERY_KEYS = {
  received: K('delivery.received'),
  queued: K('delivery.queued'),
  sending: K('delivery.sending'),
  accepted: K('delivery.accepted'),
  sent: K('delivery.sent'),
  delivered: K('delivery.delivered'),
  read: K('delivery.read'),
  played: K('delivery.played'),
  failed: K('delivery.failed'),
  internal: K('delivery.internal'),
};

export function statusLabel(status) {
  return t(STATUS_KEYS[status] || K('status.unknown')); // i18n-dynamic
}

export function presenceLabel(presence) {
  return t(PRESENCE_KEYS[presence] || K('presence.offline')); // i18n-dynamic
}

export function deliveryLabel(status) {
  return t(DELIVERY_KEYS[status] || K('delivery.unknown')); // i18n-dynamic
}

/** The customer as a row or a title names them. */
export function customerName(c) {
  const who = c && c.customer;
  return (who && (who.name || who.phone || who.id)) || t('customer.unknown');
}

/** An agent's name from the teams' rosters (else their id). */
export function agentName(s, id) {
  if (!id) return '';
  const me = s.me && s.me.user;
  if (me && me.id === id) return me.name || id;
  for (const team of s.teams) {
    for (const a of team.agents || []) if (a.id === id && a.name) return a.name;
  }
  return id;
}

export function teamName(s, id) {
  if (!id) return '';
  const team = s.teams.find((x) => x.id === id);
  return (team && team.name) || id;
}

/** Names as the UI's language lists them ("Bob and Carol"). */
export function listNames(names) {
  try {
    return new Intl.ListFormat(document.documentElement.lang || 'en', { type: 'conjunction' }).format(names);
  } catch {
    return names.join(', ');
  }
}

/** "Bob is viewing", "Bob and Carol are viewing" (`names`: not empty). */
export function viewingText(names) {
  return names.length > 1 ? t('activity.viewing_many', { names: listNames(names) }) : t('activity.viewing', { names: listNames(names) });
}

/** "Bob is typing…", "Bob and Carol are typing…". */
export function typingText(names) {
  return names.length > 1 ? t('activity.typing_many', { names: listNames(names) }) : t('activity.typing', { names: listNames(names) });
}

/** The signed-in user's id. */
export function myId(s) {
  return s.session && s.session.user ? s.session.user.id : null;
}

/** The signed-in user (GET /me's, with teams and supervises, once loaded; the login's before). */
export function currentUser(s) {
  return (s.me && s.me.user) || (s.session && s.session.user) || null;
}

export function visible(el) {
  return !!el && el.getClientRects().length > 0;
}

/** The list's keyboard navigation (`{move(step), focus()}`), set by the list while it is shown. */
let listNavigator = null;

export function setListNavigator(nav) {
  listNavigator = nav;
}

/** Moves the focus to the next (1) or previous (-1) row of the list (drawn or not: it is virtualized). */
export function moveInList(step) {
  if (listNavigator) listNavigator.move(step);
}

/** The open composer's switch between reply and note (`current(note)`), set while it is shown. */
export const composerControl = { current: null };

/** Back to the list from the reply box: the open row, else the first. */
export function focusList() {
  if (listNavigator) listNavigator.focus();
}

/** Re-renders twice a second while `active`; returns the time of this render. */
export function useNow(active) {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!active) return undefined;
    const id = setInterval(() => setTick((n) => n + 1), 500);
    return () => clearInterval(id);
  }, [active]);
  return Date.now();
}

/** Re-renders when the time `at` comes (null: never); returns the time of this render. */
export function useWake(at) {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
    const delay = Math.min(Math.max(0, at - Date.now() + 50), 2 ** 31 - 1);
    const id = setTimeout(() => setTick((n) => n + 1), delay);
    return () => clearTimeout(id);
  }, [at]);
  return Date.now();
}

const SLA_CLOCK_KEYS = {
  first_response: K('sla.clock_first_response'),
  next_response: K('sla.clock_next_response'),
  resolution: K('sla.clock_resolution'),
};
const SLA_KEYS = {
  on_track: K('sla.on_track'),
  at_risk: K('sla.at_risk'),
  breached: K('sla.breached'),
  met: K('sla.met'),
  missed: K('sla.missed'),
};
const SLA_SHORT_KEYS = { at_risk: K('sla.short_at_risk'), breached: K('sla.short_breached') };
/** On a phone's header: a word or the due time. */
const SLA_TINY_KEYS = {
  on_track: K('sla.short_on_track'),
  at_risk: K('sla.short_at_risk'),
  breached: K('sla.short_breached'),
  met: K('sla.met'),
  missed: K('sla.short_missed'),
};

/**
 * A conversation's SLA at `now` (nothing when no policy applies): its worst clock, said in full
 * ("First response due 14:32"), or, `compact` (list rows), only when at risk or breached.
 */
export function SlaBadge({ c, now, compact }) {
  const sla = slaState(c, now);
  if (!sla || (compact && !SLA_SHORT_KEYS[sla.status])) return null;
  const clock = SLA_CLOCK_KEYS[sla.clock] ? t(SLA_CLOCK_KEYS[sla.clock]) : sla.clock; // i18n-dynamic
  const full = t(SLA_KEYS[sla.status], { clock, time: sla.dueAt !== null ? time(sla.dueAt) : '' }); // i18n-dynamic
  if (compact) {
    return html`<span class=${'sla sla-' + sla.status} data-sla=${sla.status} title=${full}>${t(SLA_SHORT_KEYS[sla.status]) /* i18n-dynamic */}<span class="visually-hidden">: ${full}</span></span>`;
  }
  const tiny = t(SLA_TINY_KEYS[sla.status], { time: sla.dueAt !== null ? time(sla.dueAt) : '' }); // i18n-dynamic
  return html`<span class=${'sla sla-' + sla.status} data-sla=${sla.status} title=${full}><span class="sla-full">${full}</span><span class="sla-tiny" aria-hidden="true">${tiny}</span></span>`;
}

/** A native modal dialog: focus stays inside, Escape closes it, focus goes back after. */
export function Modal({ title, onClose, children, id }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement;
    if (dialog && !dialog.open && dialog.showModal) dialog.showModal();
    return () => {
      if (opener && opener.isConnected && opener.focus) opener.focus();
    };
  }, []);
  const close = () => {
    if (ref.current && ref.current.open) ref.current.close();
    else onClose();
  };
  return html`
    <dialog ref=${ref} id=${id} class="modal" aria-labelledby=${id + '-title'} onClose=${onClose}>
      <header class="modal-head">
        <h2 id=${id + '-title'}>${title}</h2>
        <button type="button" class="icon-button" aria-label=${t('common.close')} onClick=${close}>${icons.close()}</button>
      </header>
      <div class="modal-body">${children}</div>
    </dialog>
  `;
}

/**
 * A dialog that asks before doing something: `onConfirm` resolves to null when done (the
 * dialog closes), else to why not, shown in it.
 */
export function ConfirmDialog({ title, message, confirmLabel, danger = false, onConfirm, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    const why = await onConfirm();
    setBusy(false);
    if (why) setError(why);
    else onClose();
  };
  return html`
    <${Modal} id="confirm-dialog" title=${title} onClose=${onClose}>
      <p dir="auto">${message}</p>
      ${error && html`<p id="confirm-error" class="error" role="alert" dir="auto">${error}</p>`}
      <div class="form-actions">
        <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
        <button id="confirm-ok" type="button" class=${'button ' + (danger ? 'danger' : 'primary')} disabled=${busy}
          aria-busy=${busy ? 'true' : 'false'} onClick=${go}>${confirmLabel}</button>
      </div>
    <//>
  `;
}

async function copyText(input, text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain http, an old browser): the selection and the old command.
    if (!input) return false;
    input.focus();
    input.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

/** A secret or a link shown once: read-only, selected on focus, with a copy button (`#<id>-copy`). */
export function CopyField({ id, label, value, hint }) {
  const ref = useRef(null);
  const [copied, setCopied] = useState(null);
  const copy = async () => setCopied((await copyText(ref.current, value)) ? 'ok' : 'failed');
  return html`
    <div class="field copy-field">
      <label for=${id}>${label}</label>
      <div class="copy-row">
        <input id=${id} ref=${ref} type="text" readonly dir="ltr" value=${value} spellcheck="false"
          aria-describedby=${hint ? id + '-hint' : undefined} onFocus=${(e) => e.currentTarget.select()} />
        <button id=${id + '-copy'} type="button" class="button" onClick=${copy}>${icons.copy()}<span>${t('common.copy')}</span></button>
      </div>
      ${hint && html`<p id=${id + '-hint'} class="muted small">${hint}</p>`}
      <p class="muted small" role="status">${copied === 'ok' ? t('common.copied') : copied === 'failed' ? t('common.copy_failed') : ''}</p>
    </div>
  `;
}

/** A secret shown once (a new token, a rotated secret): copy it, then done. */
export function SecretShown({ id, fieldId = id + '-secret', title, label, value, hint, onClose }) {
  return html`
    <${Modal} id=${id} title=${title} onClose=${onClose}>
      <${CopyField} id=${fieldId} label=${label} value=${value} hint=${hint} />
      <button type="button" class="button primary wide" onClick=${onClose}>${t('common.done')}</button>
    <//>
  `;
}

/**
 * A row of tabs (`tabs`: `[{key, label, controls?}]`), each tab's id `idPrefix + key`,
 * controlling its own `controls` or else `controls`: the arrows (mirrored right to left), Home and End move between them.
 */
export function TabList({ tabs, selected, onSelect, label, idPrefix, controls, className = '' }) {
  const select = (key, focus) => {
    onSelect(key);
    if (focus) requestAnimationFrame(() => document.getElementById(idPrefix + key)?.focus());
  };
  const onKeyDown = (e) => {
    const rtl = document.documentElement.dir === 'rtl';
    let i = tabs.findIndex((x) => x.key === selected);
    if (e.key === (rtl ? 'ArrowLeft' : 'ArrowRight')) i = (i + 1) % tabs.length;
    else if (e.key === (rtl ? 'ArrowRight' : 'ArrowLeft')) i = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') i = 0;
    else if (e.key === 'End') i = tabs.length - 1;
    else return;
    e.preventDefault();
    select(tabs[i].key, true);
  };
  return html`
    <div class=${'tabs ' + className} role="tablist" aria-label=${label}>
      ${tabs.map((x) => html`
        <button key=${x.key} id=${idPrefix + x.key} type="button" role="tab" class="tab" data-key=${x.key}
          aria-selected=${x.key === selected ? 'true' : 'false'} aria-controls=${x.controls || controls} tabindex=${x.key === selected ? 0 : -1}
          onKeyDown=${onKeyDown} onClick=${() => select(x.key, false)}><span dir="auto">${x.label}</span></button>`)}
    </div>
  `;
}

function svg(path, extra = '') {
  return html`<svg class=${'icon ' + extra} viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">${path}</svg>`;
}

/** Icons, each a fresh vnode: decorative (aria-hidden); whatever carries them has a label. */
export const icons = {
  back: () => svg(html`<path d="M15 5l-7 7 7 7" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" />`, 'flip-rtl'),
  close: () => svg(html`<path d="M6 6l12 12M18 6L6 18" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" />`),
  send: () => svg(html`<path d="M4 12l16-8-6 16-2.5-6.5z" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />`, 'flip-rtl'),
  check: () => svg(html`<path d="M5 12.5l4.5 4.5L19 7.5" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" />`),
  transfer: () => svg(html`<path d="M4 8h13l-3.5-3.5M20 16H7l3.5 3.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />`),
  snooze: () => svg(html`<circle cx="12" cy="13" r="7.5" fill="none" stroke="currentColor" stroke-width="2" /><path d="M12 9v4.5l3 2M5 4L2.5 6.5M19 4l2.5 2.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  person: () => svg(html`<circle cx="12" cy="8" r="4" fill="none" stroke="currentColor" stroke-width="2" /><path d="M4 21c0-4 3.6-6.5 8-6.5s8 2.5 8 6.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  logout: () => svg(html`<path d="M10 4H5v16h5M15 8l4 4-4 4M19 12H9" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />`, 'flip-rtl'),
  clock: () => svg(html`<circle cx="12" cy="12" r="8" fill="none" stroke="currentColor" stroke-width="2" /><path d="M12 8v4.5l3 1.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  tick: () => svg(html`<path d="M4 12.5l5 5L20 6.5" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" />`),
  ticks: () => svg(html`<path d="M1.5 12.5l5 5L17 7M9.5 16l1.5 1.5L22 7" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" />`),
  inbox: () => svg(html`<path d="M3 13l3-8h12l3 8v6H3zM3 13h5l1.5 2.5h5L16 13h5" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />`),
  reports: () => svg(html`<path d="M3 3v18h18M7 15l4-4 3 3 6-6" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" />`),
  board: () => svg(html`<path d="M4 20V10M10 20V4M16 20v-7M21 20H3" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" />`),
  admin: () => svg(html`<circle cx="12" cy="12" r="3" fill="none" stroke="currentColor" stroke-width="2" /><path d="M12 2.5v3M12 18.5v3M2.5 12h3M18.5 12h3M5.3 5.3l2.1 2.1M16.6 16.6l2.1 2.1M5.3 18.7l2.1-2.1M16.6 7.4l2.1-2.1" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  caret: () => svg(html`<path d="M7 10l5 5 5-5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />`),
  copy: () => svg(html`<rect x="8" y="8" width="12" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="2" /><path d="M16 8V5a1 1 0 0 0-1-1H5a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h3" fill="none" stroke="currentColor" stroke-width="2" />`),
  refresh: () => svg(html`<path d="M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />`),
  plus: () => svg(html`<path d="M12 5v14M5 12h14" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" />`),
  eye: () => svg(html`<path d="M2 12s3.6-6.5 10-6.5S22 12 22 12s-3.6 6.5-10 6.5S2 12 2 12z" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" /><circle cx="12" cy="12" r="3" fill="none" stroke="currentColor" stroke-width="2" />`),
  filter: () => svg(html`<path d="M3 5h18l-7 8.5V19l-4 2v-7.5z" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />`),
  keyboard: () => svg(html`<rect x="2.5" y="6" width="19" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="2" /><path d="M6 10h1M10 10h1M14 10h1M18 10h0M7 14h10" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  pin: () => svg(html`<path d="M12 21s-6.5-6.2-6.5-11a6.5 6.5 0 0 1 13 0c0 4.8-6.5 11-6.5 11z" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" /><circle cx="12" cy="10" r="2.4" fill="none" stroke="currentColor" stroke-width="2" />`),
  contacts: () => svg(html`<circle cx="9" cy="8" r="3.5" fill="none" stroke="currentColor" stroke-width="2" /><path d="M2.5 20c0-3.6 2.9-6 6.5-6s6.5 2.4 6.5 6M16 4.8a3.5 3.5 0 0 1 0 6.4M18.5 14.5c1.9.8 3 2.8 3 5.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  contact: () => svg(html`<rect x="3" y="4" width="18" height="16" rx="2" fill="none" stroke="currentColor" stroke-width="2" /><circle cx="9" cy="10.5" r="2.3" fill="none" stroke="currentColor" stroke-width="2" /><path d="M5.5 16.5c.6-1.8 2-2.8 3.5-2.8s2.9 1 3.5 2.8M15 9.5h3M15 13h3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  template: () => svg(html`<rect x="4" y="3" width="16" height="18" rx="2" fill="none" stroke="currentColor" stroke-width="2" /><path d="M8 8h8M8 12h8M8 16h5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />`),
  attach: () => svg(html`<path d="M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />`),
  campaigns: () => svg(html`<path d="M3.5 10v4a1 1 0 0 0 1 1H7l6 4V5L7 9H4.5a1 1 0 0 0-1 1zM16.5 9a4 4 0 0 1 0 6M19 6.5a7.5 7.5 0 0 1 0 11" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />`, 'flip-rtl'),
  failed: () => svg(html`<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2" /><path d="M12 7v6M12 16.5v.5" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" />`),
};
