// The open conversation: its header and the actions the user's role may take on it (resolve,
// transfer, snooze: lib/model.js conversationPermissions), the transcript with day separators
// and delivery ticks, and the composer. A refusal (403, 409) is shown where it was asked.

import { html, useLayoutEffect, useRef, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { day, dayKey, iso, time, dateTime, timeZone } from '../lib/format.js';
import { conversationPermissions, messageText } from '../lib/model.js';
import { snoozeChoices } from '../lib/zoned.js';
import { closeConversation, refreshDetail, refreshTeams, resolve, showPane, snooze, transfer } from '../lib/actions.js';
import { agentName, currentUser, customerName, deliveryLabel, icons, Modal, presenceLabel, statusLabel, teamName } from './common.js';
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

function Message({ s, c, m }) {
  const direction = m.direction === 'note' || m.direction === 'outbound' ? m.direction : 'inbound';
  const text = messageText(m.body);
  const plain = text && !LABELLED.has(m.kind);
  const link = mediaLink(m.body);
  const choices = choicesOf(m.body);
  return html`
    <article class="message" data-id=${m.id} data-direction=${direction} data-sender=${m.sender} data-status=${m.status}>
      <div class="bubble">
        <div class="message-author" dir="auto">${authorOf(s, c, m)}</div>
        ${!plain && html`
          <div class="attachment">
            ${MEDIA_KINDS.has(m.kind) && mediaIdOf(m.body)
              ? html`<${MediaMessage} m=${m} kindLabel=${kindLabel} />`
              : link
              ? html`<a href=${link} target="_blank" rel="noopener noreferrer">${t('message.attachment', { kind: kindLabel(m.kind) })}</a>`
              : t('message.attachment', { kind: kindLabel(m.kind) })}
          </div>`}
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
    </article>
  `;
}

function Transcript({ s, d, c }) {
  const ref = useRef(null);
  const stick = useRef(true);
  const count = d.messages.length;
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
  for (const m of d.messages) {
    const k = dayKey(m.created_at);
    if (k !== lastDay) {
      lastDay = k;
      items.push(html`<div key=${'day-' + k} class="day-separator" role="separator"><span>${day(m.created_at)}</span></div>`);
    }
    items.push(html`<${Message} key=${m.id} s=${s} c=${c} m=${m} />`);
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

export function ConversationView({ s }) {
  const [dialog, setDialog] = useState(null);
  const d = s.detail;
  if (!d) {
    return html`<div class="empty-pane"><p class="muted">${t('conversation.none')}</p></div>`;
  }
  const c = d.conversation || s.conversations[d.id] || null;
  const waiting = Object.keys(s.offers).length + Object.entries(s.unread).filter(([id]) => id !== d.id).length;
  const phone = c && c.customer && c.customer.phone;
  const name = c ? customerName(c) : '';
  const may = conversationPermissions(currentUser(s), c);
  const openTransfer = () => {
    refreshTeams();
    refreshDetail();
    setDialog('transfer');
  };
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
              ${phone && phone !== name && html`<bdi class="phone" dir="ltr">${phone}</bdi>`}
              ${c.team && html`<span class="sub-extra">${teamName(s, c.team)}</span>`}
              ${c.assignee && html`<span class="sub-extra" dir="auto">${t('conversation.assignee', { name: agentName(s, c.assignee) })}</span>`}
            </p>`}
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
      ${dialog === 'transfer' && c && html`<${TransferDialog} s=${s} c=${c} onClose=${() => setDialog(null)} />`}
      ${dialog === 'snooze' && c && html`<${SnoozeDialog} c=${c} onClose=${() => setDialog(null)} />`}
    </div>
  `;
}
