// Administration, WhatsApp templates (docs/CAMPAIGNS.md): the templates synced from Meta for each
// number (name, language, category, status and Meta's reason, the body's text), and a Sync button
// that reads them from Meta now. Sends follow a template's latest status and category.

import { html, useEffect, useState } from '../lib/html.js';
import { K, t } from '../lib/i18n.js';
import { dateTime } from '../lib/format.js';
import { explain } from '../lib/actions.js';
import { api } from '../lib/api.js';
import { icons } from './common.js';

const CATEGORY_KEYS = {
  MARKETING: K('templates.marketing'),
  UTILITY: K('templates.utility'),
  AUTHENTICATION: K('templates.authentication'),
};

// Meta's statuses (message_template_status_update): shown in the person's language, the code kept
// in `data-status` and the title.
const STATUS_KEYS = {
  APPROVED: K('templates.status.approved'),
  PENDING: K('templates.status.pending'),
  REJECTED: K('templates.status.rejected'),
  PAUSED: K('templates.status.paused'),
  DISABLED: K('templates.status.disabled'),
  ARCHIVED: K('templates.status.archived'),
  IN_APPEAL: K('templates.status.in_appeal'),
};

function statusLabel(status) {
  return STATUS_KEYS[status] ? t(STATUS_KEYS[status]) /* i18n-dynamic */ : String(status || '');
}

function categoryLabel(category) {
  return CATEGORY_KEYS[category] ? t(CATEGORY_KEYS[category]) /* i18n-dynamic */ : String(category || '');
}

/** The text of a template's body component, if it has one. */
function bodyText(template) {
  const parts = Array.isArray(template.components) ? template.components : [];
  const body = parts.find((c) => c && String(c.type || '').toUpperCase() === 'BODY');
  return body && typeof body.text === 'string' ? body.text : '';
}

export function TemplatesPanel() {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState(null);
  const load = async () => {
    setError(null);
    try {
      const body = await api('GET', '/api/v1/templates');
      setItems((body && body.templates) || []);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, []);
  const sync = async () => {
    setBusy(true);
    setOutcome(null);
    try {
      const answer = await api('POST', '/api/v1/templates/sync', {});
      const synced = (answer.synced || []).reduce((n, r) => n + (r.templates || 0), 0);
      const failed = (answer.failed || []).map((f) => f.channel + ': ' + f.error);
      setOutcome({ synced, failed });
      await load();
    } catch (e) {
      setOutcome({ synced: 0, failed: [explain(e)] });
    } finally {
      setBusy(false);
    }
  };
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.templates')}${items && html` <span class="muted">(${items.length})</span>`}</h3>
      <span class="spacer"></span>
      <button id="templates-sync" type="button" class="button primary" disabled=${busy} onClick=${sync}>
        ${icons.refresh()}<span>${t('templates.sync')}</span>
      </button>
    </div>
    <p class="muted">${t('templates.intro')}</p>
    ${outcome && html`<p id="templates-synced" class=${outcome.failed.length ? 'error' : 'muted'} role="status" dir="auto">
      ${t('templates.synced', { count: outcome.synced })}${outcome.failed.length ? ' ' + outcome.failed.join('; ') : ''}</p>`}
    ${error && html`<div class="error" role="alert"><span dir="auto">${error}</span>
      <button type="button" class="button small" onClick=${load}>${t('common.retry')}</button></div>`}
    ${!items && !error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${items && !items.length && html`<p class="muted">${t('templates.none')}</p>`}
    <ul class="admin-list">
      ${(items || []).map((tpl) => html`
        <li key=${tpl.channel + ':' + tpl.id} class="admin-item template-row" data-name=${tpl.name}
          data-language=${tpl.language} data-status=${tpl.status} data-category=${tpl.category}>
          <div class="item-main">
            <p class="item-title"><bdi dir="ltr" class="template-name">${tpl.name}</bdi>
              <span class="muted"> · <bdi dir="ltr">${tpl.language}</bdi> · <bdi dir="auto">${tpl.channel}</bdi></span></p>
            <p class="small">
              <span class="tag">${categoryLabel(tpl.category)}</span>${' '}
              <span class=${'tag template-status ' + (tpl.status === 'APPROVED' ? 'tag-on' : 'tag-off')} title=${tpl.status}>${statusLabel(tpl.status)}</span>
              ${tpl.reason && html` <span class="muted" dir="auto">${tpl.reason}</span>`}
            </p>
            ${bodyText(tpl) && html`<p class="muted small template-body" dir="auto">${bodyText(tpl)}</p>`}
            <p class="muted small">${t('templates.updated', { when: dateTime(tpl.updated_at) })}</p>
          </div>
        </li>`)}
    </ul>
  `;
}
