// Administration, event webhooks (docs/WEBHOOKS.md): the endpoints business systems subscribed
// (add, enable or disable, rotate the secret, delete), each one's delivery log (newest first,
// older pages) and replaying a delivery. A secret is shown once, when made.

import { html, useEffect, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { dateTime, iso } from '../lib/format.js';
import { explain, notify } from '../lib/actions.js';
import { api, query } from '../lib/api.js';
import { ConfirmDialog, icons, Modal, SecretShown } from './common.js';

const enc = encodeURIComponent;

export const EVENT_TYPES = [
  'message.created', 'message.status', 'conversation.created', 'conversation.assigned',
  'conversation.transferred', 'conversation.resolved', 'conversation.reopened', 'conversation.sla_breached',
  'contact.created', 'contact.updated',
];

const STATE_KEYS = {
  pending: K('webhooks.state_pending'),
  delivered: K('webhooks.state_delivered'),
  failed: K('webhooks.state_failed'),
};

function stateLabel(state) {
  return STATE_KEYS[state] ? t(STATE_KEYS[state]) /* i18n-dynamic */ : String(state || '');
}

function NewWebhookDialog({ onClose, onCreated }) {
  const [url, setUrl] = useState('https://');
  const [events, setEvents] = useState(['message.created']);
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const toggle = (type, on) => setEvents(on ? [...events, type] : events.filter((e) => e !== type));
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await api('POST', '/api/v1/webhooks', { url: url.trim(), events, description });
      setCreated(answer.webhook);
      onCreated();
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  if (created) {
    return html`<${SecretShown} id="webhook-dialog" fieldId="webhook-secret" title=${t('webhooks.created')} label=${t('webhooks.secret')}
      value=${created.secret} hint=${t('webhooks.secret_once')} onClose=${onClose} />`;
  }
  return html`
    <${Modal} id="webhook-dialog" title=${t('webhooks.new')} onClose=${onClose}>
      <form id="webhook-form" class="admin-form" onSubmit=${submit} novalidate>
        <div class="field">
          <label for="webhook-url">${t('webhooks.url')}</label>
          <input id="webhook-url" type="url" required dir="ltr" spellcheck="false" value=${url}
            onInput=${(e) => setUrl(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="webhook-description">${t('webhooks.description')}</label>
          <input id="webhook-description" type="text" maxlength="500" dir="auto" value=${description}
            onInput=${(e) => setDescription(e.currentTarget.value)} />
        </div>
        <fieldset id="webhook-events" class="checks">
          <legend>${t('webhooks.events')}</legend>
          <div class="checks-list">
            ${EVENT_TYPES.map((type) => html`
              <label key=${type} class="check">
                <input type="checkbox" name="webhook-events" value=${type} checked=${events.includes(type)}
                  onChange=${(e) => toggle(type, e.currentTarget.checked)} />
                <code>${type}</code>
              </label>`)}
          </div>
        </fieldset>
        ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="webhook-save" type="submit" class="button primary" disabled=${busy || !events.length}>
            ${icons.plus()}<span>${t('webhooks.add')}</span>
          </button>
        </div>
      </form>
    <//>
  `;
}

function Deliveries({ webhook }) {
  const [items, setItems] = useState(null);
  const [next, setNext] = useState(null);
  const [error, setError] = useState(null);
  const load = async (before) => {
    setError(null);
    try {
      const page = await api('GET', `/api/v1/webhooks/${enc(webhook.id)}/deliveries` + query({ limit: 50, before: before || null }));
      setItems((old) => [...(before ? old || [] : []), ...((page && page.deliveries) || [])]);
      setNext((page && page.next) || null);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load(null);
  }, [webhook.id]);
  const replay = async (d) => {
    try {
      await api('POST', `/api/v1/webhooks/${enc(webhook.id)}/deliveries/${enc(d.id)}/replay`);
      notify(t('webhooks.replayed'), 'info');
      load(null);
    } catch (e) {
      notify(explain(e));
    }
  };
  const [span, setSpan] = useState('3600000');
  const replayFailed = async (e) => {
    e.preventDefault();
    try {
      const since = new Date(Date.now() - Number(span)).toISOString();
      const answer = await api('POST', `/api/v1/webhooks/${enc(webhook.id)}/replay`, { since, failed_only: true });
      notify(t('webhooks.replayed_n', { count: (answer && answer.replayed) || 0 }), 'info');
      load(null);
    } catch (err) {
      notify(explain(err));
    }
  };
  if (error) return html`<p class="error" role="alert" dir="auto">${error}</p>`;
  if (!items) return html`<p class="muted" role="status">${t('list.loading')}</p>`;
  if (!items.length) return html`<p class="muted">${t('webhooks.no_deliveries')}</p>`;
  return html`
    <form class="inline-form webhook-replay-failed" onSubmit=${replayFailed}>
      <div class="field">
        <label for=${'replay-span-' + webhook.id}>${t('webhooks.replay_failed_since')}</label>
        <select id=${'replay-span-' + webhook.id} value=${span} onChange=${(e) => setSpan(e.currentTarget.value)}>
          <option value="3600000">${t('webhooks.last_hour')}</option>
          <option value="86400000">${t('webhooks.last_day')}</option>
          <option value="604800000">${t('webhooks.last_week')}</option>
        </select>
      </div>
      <button type="submit" class="button small">${t('webhooks.replay_failed')}</button>
    </form>
    <div class="table-scroll">
      <table class="diff deliveries">
        <thead><tr>
          <th scope="col">${t('webhooks.when')}</th><th scope="col">${t('webhooks.event')}</th>
          <th scope="col">${t('webhooks.state')}</th><th scope="col">${t('webhooks.attempts')}</th>
          <th scope="col">${t('webhooks.response')}</th><th scope="col"><span class="visually-hidden">${t('webhooks.replay')}</span></th>
        </tr></thead>
        <tbody>
          ${items.map((d) => html`
            <tr key=${d.id} class="delivery" data-id=${d.id} data-state=${d.state}>
              <td><time datetime=${iso(d.created_at)}>${dateTime(d.created_at)}</time></td>
              <td><code>${d.type}</code>${d.replay_of && html` <span class="tag">${t('webhooks.replay_tag')}</span>`}</td>
              <td><span class=${'tag' + (d.state === 'failed' ? ' tag-off' : '')}>${stateLabel(d.state)}</span></td>
              <td>${d.attempts}</td>
              <td class="small" dir="ltr">${d.response_status || d.error || '—'}${d.latency_ms != null && html` · ${d.latency_ms} ms`}
                ${d.response_excerpt && html`<div class="muted excerpt" title=${d.response_excerpt}>${d.response_excerpt.slice(0, 80)}</div>`}</td>
              <td><button type="button" class="button small delivery-replay" onClick=${() => replay(d)}>${t('webhooks.replay')}</button></td>
            </tr>`)}
        </tbody>
      </table>
    </div>
    ${next && html`<button type="button" class="button wide" onClick=${() => load(next)}>${t('audit.older')}</button>`}
  `;
}

export function WebhooksPanel() {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const [adding, setAdding] = useState(false);
  const [open, setOpen] = useState(null);
  const [secret, setSecret] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const load = async () => {
    setError(null);
    try {
      const body = await api('GET', '/api/v1/webhooks');
      setItems((body && body.webhooks) || []);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, []);
  const act = async (work) => {
    try {
      await work();
      load();
    } catch (e) {
      notify(explain(e));
    }
  };
  const setEnabled = (w, enabled) => act(() => api('PATCH', `/api/v1/webhooks/${enc(w.id)}`, { enabled }));
  const rotate = (w) => act(async () => {
    const answer = await api('POST', `/api/v1/webhooks/${enc(w.id)}/rotate`);
    setSecret(answer.webhook);
  });
  const remove = async (w) => {
    try {
      await api('DELETE', `/api/v1/webhooks/${enc(w.id)}`);
      load();
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.webhooks')}${items && html` <span class="muted">(${items.length})</span>`}</h3>
      <span class="spacer"></span>
      <button id="webhook-new" type="button" class="button primary" onClick=${() => setAdding(true)}>
        ${icons.plus()}<span>${t('webhooks.new')}</span>
      </button>
    </div>
    <p class="muted">${t('webhooks.intro')}</p>
    ${error && html`<div class="error" role="alert"><span dir="auto">${error}</span>
      <button type="button" class="button small" onClick=${load}>${t('common.retry')}</button></div>`}
    ${!items && !error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${items && !items.length && html`<p class="muted">${t('webhooks.none')}</p>`}
    <ul class="admin-list">
      ${(items || []).map((w) => html`
        <li key=${w.id} class="admin-item webhook-row" data-id=${w.id} data-enabled=${w.enabled ? 'true' : 'false'}>
          <div class="item-main">
            <p class="item-title"><bdi dir="ltr" class="webhook-url">${w.url}</bdi>
              ${!w.enabled && html` <span class="tag tag-off">${t('webhooks.disabled')}</span>`}</p>
            ${w.description && html`<p class="small" dir="auto">${w.description}</p>`}
            <p class="muted small">${w.events.map((e) => html`<code key=${e}>${e}</code> `)}</p>
            ${w.disabled_reason && html`<p class="small notice" dir="auto">${w.disabled_reason}</p>`}
            ${w.previous_secret_expires_at && html`<p class="muted small">${t('webhooks.rotating', { when: dateTime(w.previous_secret_expires_at) })}</p>`}
          </div>
          <div class="item-actions">
            <button type="button" class="button small webhook-log" aria-expanded=${open === w.id ? 'true' : 'false'}
              onClick=${() => setOpen(open === w.id ? null : w.id)}>${t('webhooks.deliveries')}</button>
            <button type="button" class="button small webhook-toggle" onClick=${() => setEnabled(w, !w.enabled)}>
              ${w.enabled ? t('webhooks.disable') : t('webhooks.enable')}</button>
            <button type="button" class="button small webhook-rotate" onClick=${() => rotate(w)}>${t('webhooks.rotate')}</button>
            <button type="button" class="button small danger-text webhook-delete" onClick=${() => setDeleting(w)}>${t('webhooks.delete')}</button>
          </div>
          ${open === w.id && html`<div class="webhook-deliveries"><${Deliveries} webhook=${w} /></div>`}
        </li>`)}
    </ul>
    ${adding && html`<${NewWebhookDialog} onClose=${() => setAdding(false)} onCreated=${load} />`}
    ${secret && html`
      <${SecretShown} id="webhook-rotated" fieldId="webhook-new-secret" title=${t('webhooks.rotated')} label=${t('webhooks.secret')} value=${secret.secret}
        hint=${t('webhooks.rotated_hint', { when: dateTime(secret.previous_secret_expires_at) })} onClose=${() => setSecret(null)} />`}
    ${deleting && html`
      <${ConfirmDialog} title=${t('webhooks.delete')} message=${t('webhooks.delete_confirm', { url: deleting.url })}
        confirmLabel=${t('webhooks.delete')} danger onConfirm=${() => remove(deleting)} onClose=${() => setDeleting(null)} />`}
  `;
}
