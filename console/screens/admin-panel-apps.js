// Administration, panel apps (docs/ARCHITECTURE.md, "Panel apps"): the business pages agents see
// as tabs of the customer panel. Register one (name, URL, the teams whose conversations show
// it), change it, rotate its secret, delete it. A secret is shown once, when made.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { dateTime } from '../lib/format.js';
import { explain, notify } from '../lib/actions.js';
import { api } from '../lib/api.js';
import { panelAppBody, panelAppForm } from '../lib/panel-apps.js';
import { ConfirmDialog, icons, Modal, SecretShown, teamName } from './common.js';

const enc = encodeURIComponent;

function SecretOnce({ id, title, hint, app, onClose }) {
  return html`<${SecretShown} id=${id} title=${title} label=${t('panelapps.secret')} value=${app.secret}
    hint=${hint} onClose=${onClose} />`;
}

/** Register an app (no `app`) or change one. */
function PanelAppDialog({ s, app, onClose, onSaved }) {
  const [form, setForm] = useState(() => panelAppForm(app));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const nameRef = useRef(null);
  useEffect(() => {
    if (nameRef.current) nameRef.current.focus();
  }, []);
  const set = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.value });
  const toggle = (team, on) => setForm({ ...form, teams: on ? [...form.teams, team] : form.teams.filter((x) => x !== team) });
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    const body = panelAppBody(form, app);
    if (!body) {
      onClose();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (app) {
        await api('PATCH', `/api/v1/admin/panel-apps/${enc(app.id)}`, body);
        onSaved();
        onClose();
      } else {
        const answer = await api('POST', '/api/v1/admin/panel-apps', body);
        setCreated(answer.panel_app);
        onSaved();
      }
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  if (created) {
    return html`<${SecretOnce} id="panel-app-created" title=${t('panelapps.created')} hint=${t('panelapps.secret_once')}
      app=${created} onClose=${onClose} />`;
  }
  const teams = Array.isArray(s.teams) ? s.teams : [];
  return html`
    <${Modal} id="panel-app-dialog" title=${app ? t('panelapps.edit_title', { name: app.name }) : t('panelapps.new')} onClose=${onClose}>
      <form id="panel-app-form" class="admin-form" onSubmit=${submit} novalidate>
        <div class="field">
          <label for="panel-app-name">${t('panelapps.name')}</label>
          <input id="panel-app-name" ref=${nameRef} type="text" required maxlength="80" dir="auto" value=${form.name} onInput=${set('name')} />
        </div>
        <div class="field">
          <label for="panel-app-url">${t('panelapps.url')}</label>
          <input id="panel-app-url" type="url" required dir="ltr" spellcheck="false" aria-describedby="panel-app-url-hint"
            value=${form.url} onInput=${set('url')} />
          <p id="panel-app-url-hint" class="muted small">${t('panelapps.url_hint')}</p>
        </div>
        <fieldset id="panel-app-teams" class="checks">
          <legend>${t('panelapps.teams')}</legend>
          <p class="muted small">${t('panelapps.teams_hint')}</p>
          <div class="checks-list">
            ${teams.map((x) => html`
              <label key=${x.id} class="check">
                <input type="checkbox" name="panel-app-teams" value=${x.id} checked=${form.teams.includes(x.id)}
                  onChange=${(e) => toggle(x.id, e.currentTarget.checked)} />
                <span dir="auto">${x.name || x.id}</span>
              </label>`)}
          </div>
        </fieldset>
        ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="panel-app-save" type="submit" class="button primary" disabled=${busy || !form.name.trim() || !form.url.trim()}>
            ${app ? t('common.save') : html`${icons.plus()}<span>${t('panelapps.create')}</span>`}
          </button>
        </div>
      </form>
    <//>
  `;
}

export function PanelAppsPanel({ s }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const [dialog, setDialog] = useState(null);
  const [rotated, setRotated] = useState(null);
  const load = async () => {
    setError(null);
    try {
      const body = await api('GET', '/api/v1/admin/panel-apps');
      setItems((body && body.panel_apps) || []);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, []);
  const rotate = async (app) => {
    try {
      const answer = await api('POST', `/api/v1/admin/panel-apps/${enc(app.id)}/rotate`);
      setRotated(answer.panel_app);
      load();
    } catch (e) {
      notify(explain(e));
    }
  };
  const remove = async (app) => {
    try {
      await api('DELETE', `/api/v1/admin/panel-apps/${enc(app.id)}`);
      load();
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  const close = () => setDialog(null);
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.panel_apps')}${items && html` <span class="muted">(${items.length})</span>`}</h3>
      <span class="spacer"></span>
      <button id="panel-app-new" type="button" class="button primary" onClick=${() => setDialog({ kind: 'edit', app: null })}>
        ${icons.plus()}<span>${t('panelapps.new')}</span>
      </button>
    </div>
    <p class="muted">${t('panelapps.intro')}</p>
    ${error && html`<div class="error" role="alert"><span dir="auto">${error}</span>
      <button type="button" class="button small" onClick=${load}>${t('common.retry')}</button></div>`}
    ${!items && !error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${items && !items.length && html`<p class="muted">${t('panelapps.none')}</p>`}
    <ul class="admin-list">
      ${(items || []).map((app) => html`
        <li key=${app.id} class="admin-item panel-app-row" data-id=${app.id}>
          <div class="item-main">
            <p class="item-title"><bdi dir="auto" class="panel-app-name">${app.name}</bdi></p>
            <p class="small"><bdi dir="ltr" class="panel-app-url">${app.url}</bdi></p>
            <p class="muted small panel-app-teams">${app.teams && app.teams.length
              ? t('panelapps.shown_in', { teams: app.teams.map((x) => teamName(s, x)).join(', ') })
              : t('panelapps.shown_everywhere')}${' · '}${t('panelapps.changed', { when: dateTime(app.updated_at) })}</p>
          </div>
          <div class="item-actions">
            <button type="button" class="button small panel-app-edit" onClick=${() => setDialog({ kind: 'edit', app })}>${t('panelapps.edit')}</button>
            <button type="button" class="button small panel-app-rotate" onClick=${() => rotate(app)}>${t('panelapps.rotate')}</button>
            <button type="button" class="button small danger-text panel-app-delete" onClick=${() => setDialog({ kind: 'delete', app })}>${t('panelapps.delete')}</button>
          </div>
        </li>`)}
    </ul>
    ${dialog && dialog.kind === 'edit' && html`<${PanelAppDialog} s=${s} app=${dialog.app} onClose=${close} onSaved=${load} />`}
    ${dialog && dialog.kind === 'delete' && html`
      <${ConfirmDialog} title=${t('panelapps.delete')} message=${t('panelapps.delete_confirm', { name: dialog.app.name })}
        confirmLabel=${t('panelapps.delete')} danger onConfirm=${() => remove(dialog.app)} onClose=${close} />`}
    ${rotated && html`<${SecretOnce} id="panel-app-rotated" title=${t('panelapps.rotated')} hint=${t('panelapps.rotated_hint')}
      app=${rotated} onClose=${() => setRotated(null)} />`}
  `;
}
