// The open conversation: its header (who else is viewing or typing in it) and the actions the
// user's role may take on it (resolve, transfer, snooze: lib/model.js conversationPermissions),
// the transcript with day separators and delivery ticks, replies quoting what they answer,
// reactions on the message they react to, places with a map link, contact cards, and the
// composer. A refusal (403, 409) is shown where it was asked.

import { html, useLayoutEffect, useRef, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { day, dayKey, iso, time, dateTime, timeZone } from '../lib/format.js';
import { conversationPermissions, isMasked, messageText } from '../lib/model.js';
import { presenceIn, slaChangesAt } from '../lib/inbox.js';
import { contactCards, foldTranscript, place, quoteOf, reactionCounts, telLink } from '../lib/transcript.js';
import { snoozeChoices } from '../lib/zoned.js';
import { closeConversation, openDialog, resolve, showPane, snooze, startTransfer, transfer } from '../lib/actions.js';
import { agentName, channelLabel, currentUser, customerName, deliveryLabel, icons, Modal, presenceLabel, SlaBadge, statusLabel, teamName, typingText, useWake, viewingText } from './common.js';
import { Composer } from './composer.js';
import { MediaMessage, mediaIdOf } from './media.js';

const KIND_KEYS = {
  image: K('kind.image'),
  video: K('kind.video'),
  audio: K('kind.audio'),
  document: K('kind.document'),
  sticker: K('kind.sticker'),
  location: K('kind.location'),
  contacts: K('kind.contacts'),
  template: K('kind.template'),
  buttons: K('kind.buttons'),
  list: K('kind.list'),
};

function kindLabel(kind) {
  return KIND_KEYS[kind] ? t(KIND_KEYS[kind]) /* i18n-dynamic */ : String(kind || '');
}

const TICK_ICONS = {
  queued: 'clock',
  sending: 'clock',
  accepted: 'clock',
  sent: 'tick',
  delivered: 'ticks',
  read: 'ticks',
  played: 'ticks',
  failed: 'failed',
};

function Ticks({ m }) {
  const icon = TICK_ICONS[m.status];
  if (!icon) return null;
  return html`<span class=${'ticks ticks-' + m.status} role="img" aria-label=${deliveryLabel(m.status)} title=${deliveryLabel(m.status)}>${icons[icon]()}</span>`;
}

function authorOf(s, c, m) {
  if (m.direction === 'note') return t('message.note_by', { name: agentName(s, m.author) || t('message.agent') });
  if (m.sender === 'customer') return customerName(c);
  if (m.sender === 'bot') return t('message.bot');
  if (m.sender === 'api') return t('message.api');
  return agentName(s, m.author) || t('message.agent');
}

function mediaLink(body) {
  if (!body || typeof body !== 'object') return null;
  const link = (body.source && body.source.link) || body.link || (body.media && body.media.link);
  return typeof link === 'string' && link.startsWith('https://') ? link : null;
}

/** Kinds whose file the transcript shows (screens/media.js). */
const MEDIA_KINDS = new Set(['image', 'video', 'audio', 'document', 'sticker']);

/** Kinds shown with a label of their own (a media file, a place, a template). */
const LABELLED = new Set(['image', 'video', 'audio', 'document', 'sticker', 'location', 'contacts', 'template']);

/** The choices an interactive message offered (its buttons, its list's rows). */
function choicesOf(body) {
  if (!body || typeof body !== 'object') return [];
  if (Array.isArray(body.buttons)) return body.buttons.map((b) => b && b.title).filter(Boolean);
  if (Array.isArray(body.sections)) {
    return body.sections.flatMap((sec) => (sec && Array.isArray(sec.rows) ? sec.rows : [])).map((r) => r && r.title).filter(Boolean);
  }
  return [];
}

/** Who wrote the message a reply quotes. */
function quotedAuthor(s, c, q) {
  return q.direction === 'inbound' || q.sender === 'customer' ? customerName(c) : authorOf(s, c, q);
}

function Quote({ s, c, m, byProvider }) {
  const q = quoteOf(m, byProvider);
  if (!q) return null;
  const jump = (e) => {
    e.preventDefault();
    const el = q.message && document.querySelector(`.message[data-id="${CSS.escape(q.message.id)}"]`);
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 1200);
    const bubble = el.querySelector('.bubble');
    if (bubble) bubble.focus({ preventScroll: true });
  };
  return html`
    <blockquote class="quote" data-quoted=${q.id}>
      ${q.message
        ? html`
          <a href=${'#m-' + q.message.id} class="quote-link" onClick=${jump}>
            <span class="quote-author" dir="auto">${quotedAuthor(s, c, q.message)}</span>
            <span class="quote-text" dir="auto">${q.text || t('message.attachment', { kind: kindLabel(q.kind) })}</span>
          </a>`
        : html`<span class="quote-text muted">${t('message.quote_missing')}</span>`}
      <span class="visually-hidden">${t('message.in_reply')}</span>
    </blockquote>
  `;
}

function Reactions({ list }) {
  if (!list || !list.length) return null;
  const counts = reactionCounts(list);
  return html`
    <ul class="reactions" aria-label=${t('message.reactions')}>
      ${counts.map((r) => html`
        <li key=${r.emoji} class="reaction">
          <span aria-hidden="true">${r.emoji}</span>${r.count > 1 && html`<span class="reaction-count" aria-hidden="true">${r.count}</span>`}
          <span class="visually-hidden">${t('message.reaction', { emoji: r.emoji, count: r.count })}</span>
        </li>`)}
    </ul>
  `;
}

function Place({ body }) {
  const p = place(body);
  return html`
    <div class="place">
      <span class="place-icon" aria-hidden="true">${icons.pin()}</span>
      <div class="place-text">
        ${p.name && html`<strong dir="auto">${p.name}</strong>`}
        ${p.address && html`<span dir="auto">${p.address}</span>`}
        ${!p.name && !p.address && p.coordinates && html`<bdi dir="ltr">${p.coordinates}</bdi>`}
        ${p.link
          ? html`<a href=${p.link} target="_blank" rel="noopener noreferrer" class="map-link">${t('message.open_map')}</a>`
          : html`<span class="muted">${t('kind.location')}</span>`}
      </div>
    </div>
  `;
}

function Contacts({ body }) {
  const cards = contactCards(body);
  if (!cards.length) return html`<div class="attachment">${t('kind.contacts')}</div>`;
  return html`
    <ul class="contact-cards" aria-label=${t('kind.contacts')}>
      ${cards.map((x, i) => html`
        <li key=${i} class="contact-card">
          <span class="contact-icon" aria-hidden="true">${icons.contact()}</span>
          <div class="contact-body">
            <strong dir="auto">${x.name || t('message.contact_unnamed')}</strong>
            ${x.organization && html`<span class="muted" dir="auto">${x.organization}</span>`}
            ${x.phones.map((p, j) => {
              const tel = isMasked(p.phone) ? null : telLink(p.phone);
              return html`<span key=${'p' + j} class="contact-line">
                ${tel ? html`<a href=${tel} dir="ltr" class="phone">${p.phone}</a>` : html`<bdi dir="ltr" class="phone">${p.phone}</bdi>`}
                ${p.kind && html` <span class="muted small" dir="auto">${p.kind}</span>`}
              </span>`;
            })}
            ${x.emails.map((e, j) => html`<a key=${'e' + j} class="contact-line" href=${'mailto:' + e} dir="ltr">${e}</a>`)}
          </div>
        </li>`)}
    </ul>
  `;
}

/** Kinds drawn by a part of their own (not the attachment line, not their text). */
const DRAWN = new Set(['location', 'contacts']);

/** A reaction to a message not in the transcript: a line of its own, small. */
function OrphanReaction({ s, c, m }) {
  return html`
    <div class="message orphan-reaction" data-id=${m.id} data-direction=${m.direction === 'outbound' ? 'outbound' : 'inbound'} data-sender=${m.sender}>
      <p class="muted small" dir="auto">${t('message.reacted', { name: authorOf(s, c, m), emoji: (m.body && m.body.emoji) || '' })}</p>
    </div>
  `;
}

function Message({ s, c, m, reactions, byProvider }) {
  const direction = m.direction === 'note' || m.direction === 'outbound' ? m.direction : 'inbound';
  const drawn = DRAWN.has(m.kind) || (m.body && DRAWN.has(m.body.type));
  const text = drawn ? '' : messageText(m.body);
  const plain = drawn || (text && !LABELLED.has(m.kind));
  const link = mediaLink(m.body);
  const choices = choicesOf(m.body);
  return html`
    <article class="message" id=${'m-' + m.id} data-id=${m.id} data-direction=${direction} data-sender=${m.sender} data-status=${m.status}>
      <div class="bubble" tabindex="-1">
        <div class="message-author" dir="auto">${authorOf(s, c, m)}</div>
        <${Quote} s=${s} c=${c} m=${m} byProvider=${byProvider} />
        ${!plain && html`
          <div class="attachment">
            ${MEDIA_KINDS.has(m.kind) && mediaIdOf(m.body, m.id)
              ? html`<${MediaMessage} m=${m} kindLabel=${kindLabel} />`
              : link
              ? html`<a href=${link} target="_blank" rel="noopener noreferrer">${t('message.attachment', { kind: kindLabel(m.kind) })}</a>`
              : m.kind === 'erased'
              ? html`<span class="erased muted">${t('message.erased')}</span>`
              : m.kind === 'template' && m.body && typeof m.body.name === 'string'
              ? t('message.template', { name: m.body.name })
              : t('message.attachment', { kind: kindLabel(m.kind) })}
          </div>`}
        ${(m.kind === 'location' || (m.body && m.body.type === 'location')) && html`<${Place} body=${m.body} />`}
        ${(m.kind === 'contacts' || (m.body && m.body.type === 'contacts')) && html`<${Contacts} body=${m.body} />`}
        ${text && html`<p class="message-text" dir="auto">${text}</p>`}
        ${choices.length > 0 && html`
          <ul class="choices-offered">
            ${choices.map((x, i) => html`<li key=${i} dir="auto">${x}</li>`)}
          </ul>`}
        <div class="message-foot">
          <time datetime=${iso(m.created_at)} title=${dateTime(m.created_at)}>${time(m.created_at)}</time>
          ${direction === 'outbound' && html`<${Ticks} m=${m} />`}
        </div>
        ${m.status === 'failed' && html`
          <p class="failure" dir="auto">${t('message.failed', { reason: m.error_reason || m.error_code || t('message.no_reason') })}</p>`}
      </div>
      <${Reactions} list=${reactions} />
    </article>
  `;
}

/** `fn(value)`, computed again only when `value` is another object. */
function useMemoLast(value, fn) {
  const memo = useRef({ value: undefined, result: undefined });
  if (memo.current.value !== value) memo.current = { value, result: fn(value) };
  return memo.current.result;
}

function Transcript({ s, d, c }) {
  const ref = useRef(null);
  const stick = useRef(true);
  const count = d.messages.length;
  const folded = useMemoLast(d.messages, foldTranscript);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [count, d.id]);
  useLayoutEffect(() => {
    stick.current = true;
  }, [d.id]);
  const onScroll = (e) => {
    const el = e.currentTarget;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  };
  const items = [];
  let lastDay = null;
  for (const m of folded.shown) {
    const k = dayKey(m.created_at);
    if (k !== lastDay) {
      lastDay = k;
      items.push(html`<div key=${'day-' + k} class="day-separator" role="separator"><span>${day(m.created_at)}</span></div>`);
    }
    items.push(
      m.orphan
        ? html`<${OrphanReaction} key=${m.id} s=${s} c=${c} m=${m} />`
        : html`<${Message} key=${m.id} s=${s} c=${c} m=${m} reactions=${folded.reactions[m.id]} byProvider=${folded.byProvider} />`,
    );
  }
  return html`
    <div id="transcript" class="transcript" ref=${ref} onScroll=${onScroll} role="log" aria-live="polite"
      aria-label=${t('conversation.transcript')} tabindex="0">
      ${d.loading && !count && html`<p class="muted center">${t('conversation.loading')}</p>`}
      ${!d.loading && !d.error && !count && html`<p class="muted center">${t('conversation.no_messages')}</p>`}
      ${items}
    </div>
  `;
}

function TransferDialog({ s, c, onClose }) {
  const [team, setTeam] = useState(c.team || (s.teams[0] && s.teams[0].id) || '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const chosen = s.teams.find((x) => x.id === team);
  // Anyone but whoever holds it now (me, when it is mine).
  const agents = ((chosen && chosen.agents) || []).filter((a) => a.id !== c.assignee);
  const go = async (target) => {
    if (busy) return;
    setBusy(true);
    setError(null);
    const why = await transfer(c.id, target);
    setBusy(false);
    if (why) setError(why);
    else onClose();
  };
  return html`
    <${Modal} id="transfer-dialog" title=${t('transfer.title')} onClose=${onClose}>
      <div class="field">
        <label for="transfer-team">${t('transfer.team')}</label>
        <select id="transfer-team" value=${team} onChange=${(e) => {
          setTeam(e.currentTarget.value);
          setError(null);
        }}>
          ${s.teams.map((x) => html`<option key=${x.id} value=${x.id}>${x.name || x.id}</option>`)}
        </select>
      </div>
      ${error && html`<p id="transfer-error" class="error" role="alert" dir="auto">${error}</p>`}
      <button type="button" class="button primary wide" disabled=${!team || busy} onClick=${() => go({ team })}>
        ${t('transfer.to_team', { team: teamName(s, team) })}
      </button>
      <h3 class="subheading">${t('transfer.or_agent')}</h3>
      <ul class="agent-list">
        ${agents.map((a) => html`
          <li key=${a.id}>
            <button type="button" class="agent-choice" data-agent=${a.id} data-presence=${a.presence} disabled=${busy}
              onClick=${() => go({ agent: a.id })}>
              <span class="dot" aria-hidden="true"></span>
              <span class="agent-name" dir="auto">${a.name || a.id}</span>
              <span class="muted">${presenceLabel(a.presence)} · ${t('top.load', { load: a.load ?? 0, capacity: a.capacity ?? 0 })}</span>
            </button>
          </li>`)}
      </ul>
      ${chosen && !agents.length && html`<p class="muted">${t('transfer.no_agents')}</p>`}
    <//>
  `;
}

function SnoozeDialog({ c, onClose }) {
  const [error, setError] = useState(null);
  const choices = snoozeChoices(Date.now(), timeZone());
  const go = async (until) => {
    setError(null);
    const why = await snooze(c.id, until);
    if (why) setError(why);
    else onClose();
  };
  const option = (label, until) => html`
    <button type="button" class="snooze-choice" onClick=${() => go(until)}>
      <span>${label}</span><time class="muted" datetime=${iso(until)}>${dateTime(until)}</time>
    </button>`;
  return html`
    <${Modal} id="snooze-dialog" title=${t('snooze.title')} onClose=${onClose}>
      ${error && html`<p id="snooze-error" class="error" role="alert" dir="auto">${error}</p>`}
      <div class="choices">
        ${option(t('snooze.hour'), choices.hour)}
        ${option(t('snooze.tomorrow'), choices.tomorrow)}
        ${option(t('snooze.next_week'), choices.next_week)}
      </div>
    <//>
  `;
}

/** Who else is here: "Bob is viewing", "Bob is typing…" (live, polite). */
function Activity({ s, id }) {
  const here = presenceIn(s.activity, id);
  let text = '';
  if (here.typing.length) text = typingText(here.typing);
  if (here.viewing.length) text = (text ? text + ' · ' : '') + viewingText(here.viewing);
  return html`
    <p id="activity" class=${'activity' + (here.typing.length ? ' typing' : '')} role="status" data-people=${here.typing.length + here.viewing.length}>
      ${text && html`${icons.eye()}<span dir="auto">${text}</span>`}
    </p>
  `;
}

export function ConversationView({ s }) {
  const dialog = s.dialog;
  const setDialog = openDialog;
  const d = s.detail;
  const c = d ? d.conversation || s.conversations[d.id] || null : null;
  // The SLA badge changes with the time: wake when its clock turns.
  const now = useWake(c ? slaChangesAt(c, Date.now()) : null);
  if (!d) {
    return html`<div class="empty-pane"><p class="muted">${t('conversation.none')}</p></div>`;
  }
  const waiting = Object.keys(s.offers).length + Object.entries(s.unread).filter(([id]) => id !== d.id).length;
  const phone = c && c.customer && c.customer.phone;
  const name = c ? customerName(c) : '';
  const may = conversationPermissions(currentUser(s), c);
  const openTransfer = startTransfer;
  return html`
    <div class="conversation" data-id=${d.id}>
      <header class="conversation-head">
        <button type="button" class="icon-button back" aria-label=${t('conversation.back')} onClick=${closeConversation}>
          ${icons.back()}
          ${waiting > 0 && html`<span class="badge" aria-hidden="true">${waiting}</span>`}
        </button>
        <div class="conversation-title">
          <h2 id="conversation-title" tabindex="-1" dir="auto">${name}</h2>
          ${c && html`
            <p class="conversation-sub">
              <span class=${'status status-' + c.status}>${statusLabel(c.status)}</span>
              <${SlaBadge} c=${c} now=${now} />
              ${phone && phone !== name && html`<bdi class="phone" dir="ltr">${phone}</bdi>`}
              <span class="conversation-channel sub-extra" dir="auto">${channelLabel(c)}</span>
              ${c.team && html`<span class="sub-extra">${teamName(s, c.team)}</span>`}
              ${c.assignee && html`<span class="sub-extra" dir="auto">${t('conversation.assignee', { name: agentName(s, c.assignee) })}</span>`}
              ${d.campaign && html`<span id="conversation-campaign" class="campaign-chip" dir="auto">${t('conversation.campaign', { name: d.campaign.name })}</span>`}
            </p>`}
          <${Activity} s=${s} id=${d.id} />
        </div>
        <div class="conversation-actions">
          ${may.resolve && html`
            <button id="resolve" type="button" class="button" aria-label=${t('action.resolve')} onClick=${() => resolve(c.id)}>
              ${icons.check()}<span class="label">${t('action.resolve')}</span>
            </button>`}
          ${may.transfer && html`
            <button id="transfer" type="button" class="button" aria-label=${t('action.transfer')} onClick=${openTransfer}>
              ${icons.transfer()}<span class="label">${t('action.transfer')}</span>
            </button>`}
          ${may.snooze && html`
            <button id="snooze" type="button" class="button" aria-label=${t('action.snooze')} onClick=${() => setDialog('snooze')}>
              ${icons.snooze()}<span class="label">${t('action.snooze')}</span>
            </button>`}
          <button id="show-customer" type="button" class="icon-button" aria-label=${t('action.customer')} onClick=${() => showPane('customer')}>
            ${icons.person()}
          </button>
        </div>
      </header>
      ${d.error && html`<p class="error" role="alert">${d.error}</p>`}
      <${Transcript} s=${s} d=${d} c=${c} />
      <${Composer} key=${d.id} s=${s} id=${d.id} c=${c} may=${may} />
      ${dialog === 'transfer' && c && may.transfer && html`<${TransferDialog} s=${s} c=${c} onClose=${() => setDialog(null)} />`}
      ${dialog === 'snooze' && c && may.snooze && html`<${SnoozeDialog} c=${c} onClose=${() => setDialog(null)} />`}
    </div>
  `;
}
