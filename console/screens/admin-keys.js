// Administration, API keys of business systems (docs/ARCHITECTURE.md, "API keys"): every key
// (revoked ones too), a new key with its scopes, rotating a key's token and revoking a key. A
// token is shown once, when made.

import { html, useEffect, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { dateTime, iso } from '../lib/format.js';
import { explain } from '../lib/actions.js';
import { api } from '../lib/api.js';
import { ConfirmDialog, icons, Modal, SecretShown } from './common.js';

const enc = encodeURIComponent;

/** The scopes a key may hold, with what each allows. */
export const SCOPES = [
  { scope: 'contacts:read', label: K('apikeys.scope_contacts_read') },
  { scope: 'contacts:write', label: K('apikeys.scope_contacts_write') },
  { scope: 'conversations:read', label: K('apikeys.scope_conversations_read') },
  { scope: 'messages:send', label: K('apikeys.scope_messages_send') },
  { scope: 'webhooks:manage', label: K('apikeys.scope_webhooks_manage') },
  { scope: 'reports:read', label: K('apikeys.scope_reports_read') },
  { scope: 'campaigns:write', label: K('apikeys.scope_campaigns_write') },
];

function TokenShown({ id, title, hint, token, onClose }) {
  return html`<${SecretShown} id=${id} fieldId=${id + '-token'} title=${title} label=${t('apikeys.token')} value=${token} hint=${hint} onClose=${onClose} />`;
}

function NewKeyDialog({ onClose, onCreated }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState(['contacts:read']);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const toggle = (scope, on) => setScopes(on ? [...scopes, scope] : scopes.filter((s) => s !== scope));
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await api('POST', '/api/v1/admin/api-keys', { name: name.trim(), scopes });
      setCreated(answer.api_key);
      onCreated();
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  if (created) {
    return html`<${TokenShown} id="api-key-created" title=${t('apikeys.created')} token=${created.token}
      hint=${t('apikeys.token_once')} onClose=${onClose} />`;
  }
  return html`
    <${Modal} id="api-key-dialog" title=${t('apikeys.new')} onClose=${onClose}>
      <form id="api-key-form" class="admin-form" onSubmit=${submit} novalidate>
        <div class="field">
          <label for="api-key-name">${t('apikeys.name')}</label>
          <input id="api-key-name" type="text" required maxlength="100" dir="auto" value=${name}
            onInput=${(e) => setName(e.currentTarget.value)} />
        </div>
        <fieldset id="api-key-scopes" class="checks">
          <legend>${t('apikeys.scopes')}</legend>
          <div class="checks-list">
            ${SCOPES.map(({ scope, label }) => html`
              <label key=${scope} class="check">
                <input type="checkbox" name="api-key-scopes" value=${scope} checked=${scopes.includes(scope)}
                  onChange=${(e) => toggle(scope, e.currentTarget.checked)} />
                <span><code>${scope}</code> <span class="muted small">${t(label) /* i18n-dynamic */}</span></span>
              </label>`)}
          </div>
        </fieldset>
        ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="api-key-save" type="submit" class="button primary" disabled=${busy || !scopes.length || !name.trim()}>
            ${icons.plus()}<span>${t('apikeys.create')}</span>
          </button>
        </div>
      </form>
    <//>
  `;
}

export function ApiKeysPanel() {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const [adding, setAdding] = useState(false);
  const [rotated, setRotated] = useState(null);
  const [revoking, setRevoking] = useState(null);
  const [failure, setFailure] = useState(null);
  const load = async () => {
    setError(null);
    try {
      const body = await api('GET', '/api/v1/admin/api-keys');
      setItems((body && body.api_keys) || []);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, []);
  const rotate = async (k) => {
    setFailure(null);
    try {
      const answer = await api('POST', `/api/v1/admin/api-keys/${enc(k.id)}/rotate`);
      setRotated(answer.api_key);
      load();
    } catch (e) {
      setFailure(explain(e));
    }
  };
  const revoke = async (k) => {
    try {
      await api('DELETE', `/api/v1/admin/api-keys/${enc(k.id)}`);
      load();
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.api_keys')}${items && html` <span class="muted">(${items.length})</span>`}</h3>
      <span class="spacer"></span>
      <button id="api-key-new" type="button" class="button primary" onClick=${() => setAdding(true)}>
        ${icons.plus()}<span>${t('apikeys.new')}</span>
      </button>
    </div>
    <p class="muted">${t('apikeys.intro')}</p>
    ${error && html`<div class="error" role="alert"><span dir="auto">${error}</span>
      <button type="button" class="button small" onClick=${load}>${t('common.retry')}</button></div>`}
    ${failure && html`<p class="error" role="alert" dir="auto">${failure}</p>`}
    ${!items && !error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${items && !items.length && html`<p class="muted">${t('apikeys.none')}</p>`}
    <ul class="admin-list">
      ${(items || []).map((k) => html`
        <li key=${k.id} class="admin-item api-key-row" data-id=${k.id} data-active=${k.active ? 'true' : 'false'}>
          <div class="item-main">
            <p class="item-title"><bdi dir="auto" class="api-key-name">${k.name}</bdi>
              ${!k.active && html` <span class="tag tag-off">${t('apikeys.revoked')}</span>`}</p>
            <p class="muted small api-key-scopes">${k.scopes.map((s) => html`<code key=${s}>${s}</code> `)}</p>
            <p class="muted small">${t('apikeys.created_by', { when: dateTime(k.created_at), who: k.created_by })}${' · '}${k.last_used_at
                ? html`<time datetime=${iso(k.last_used_at)}>${t('apikeys.last_used', { when: dateTime(k.last_used_at) })}</time>`
                : t('apikeys.never_used')}</p>
          </div>
          ${k.active && html`
            <div class="item-actions">
              <button type="button" class="button small api-key-rotate" onClick=${() => rotate(k)}>${t('apikeys.rotate')}</button>
              <button type="button" class="button small danger-text api-key-revoke" onClick=${() => setRevoking(k)}>${t('apikeys.revoke')}</button>
            </div>`}
        </li>`)}
    </ul>
    ${adding && html`<${NewKeyDialog} onClose=${() => setAdding(false)} onCreated=${load} />`}
    ${rotated && html`<${TokenShown} id="api-key-rotated" title=${t('apikeys.rotated')} token=${rotated.token}
      hint=${t('apikeys.rotated_hint')} onClose=${() => setRotated(null)} />`}
    ${revoking && html`
      <${ConfirmDialog} title=${t('apikeys.revoke')} message=${t('apikeys.revoke_confirm', { name: revoking.name })}
        confirmLabel=${t('apikeys.revoke')} danger onConfirm=${() => revoke(revoking)} onClose=${() => setRevoking(null)} />`}
  `;
}
