// Administration, contact fields (docs/CONSOLE_API.md, "Contact fields"): the custom fields of
// contacts, each with a label and a type (text, number, date, yes/no, one of a list) that every
// write of a contact is checked against. Define one, change its label, description or options,
// delete it (the values on contacts stay). Its key and type never change.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { K, t } from '../lib/i18n.js';
import { dateTime } from '../lib/format.js';
import { explain } from '../lib/actions.js';
import { api } from '../lib/api.js';
import { FIELD_TYPES, fieldBody, fieldForm } from '../lib/contact-fields.js';
import { ConfirmDialog, icons, Modal } from './common.js';

const enc = encodeURIComponent;

const TYPE_KEYS = {
  text: K('fields.type_text'),
  number: K('fields.type_number'),
  date: K('fields.type_date'),
  boolean: K('fields.type_boolean'),
  choice: K('fields.type_choice'),
};

export function fieldTypeLabel(type) {
  return TYPE_KEYS[type] ? t(TYPE_KEYS[type]) /* i18n-dynamic */ : String(type || '');
}

/** Define a field (no `def`) or change one. */
function FieldDialog({ def, onClose, onSaved }) {
  const [form, setForm] = useState(() => fieldForm(def));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const firstRef = useRef(null);
  useEffect(() => {
    if (firstRef.current) firstRef.current.focus();
  }, []);
  const set = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    const body = fieldBody(form, def);
    if (!body) {
      onClose();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (def) await api('PATCH', `/api/v1/admin/contact-fields/${enc(def.key)}`, body);
      else await api('POST', '/api/v1/admin/contact-fields', body);
      onSaved();
      onClose();
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  const choice = form.type === 'choice';
  return html`
    <${Modal} id="field-dialog" title=${def ? t('fields.edit_title', { label: def.label }) : t('fields.new')} onClose=${onClose}>
      <form id="field-form" class="admin-form" onSubmit=${submit} novalidate>
        <div class="field">
          <label for="field-label">${t('fields.label')}</label>
          <input id="field-label" ref=${firstRef} type="text" required maxlength="100" dir="auto" value=${form.label} onInput=${set('label')} />
        </div>
        <div class="field">
          <label for="field-key">${t('fields.key')}</label>
          <input id="field-key" type="text" required maxlength="64" dir="ltr" spellcheck="false" autocomplete="off"
            pattern="[a-z][a-z0-9_]*" aria-describedby="field-key-hint" disabled=${!!def} value=${form.key} onInput=${set('key')} />
          <p id="field-key-hint" class="muted small">${def ? t('fields.key_fixed') : t('fields.key_hint')}</p>
        </div>
        <div class="field">
          <label for="field-type">${t('fields.type')}</label>
          <select id="field-type" disabled=${!!def} value=${form.type} onChange=${set('type')}>
            ${FIELD_TYPES.map((x) => html`<option key=${x} value=${x}>${fieldTypeLabel(x)}</option>`)}
          </select>
        </div>
        ${choice && html`
          <div class="field">
            <label for="field-options">${t('fields.options')}</label>
            <textarea id="field-options" rows="5" dir="auto" aria-describedby="field-options-hint" value=${form.options} onInput=${set('options')}></textarea>
            <p id="field-options-hint" class="muted small">${t('fields.options_hint')}</p>
          </div>`}
        <div class="field">
          <label for="field-description">${t('fields.description')}</label>
          <input id="field-description" type="text" maxlength="500" dir="auto" value=${form.description} onInput=${set('description')} />
        </div>
        ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="field-save" type="submit" class="button primary" disabled=${busy || !form.label.trim() || (!def && !form.key.trim())}>
            ${def ? t('common.save') : html`${icons.plus()}<span>${t('fields.create')}</span>`}
          </button>
        </div>
      </form>
    <//>
  `;
}

export function ContactFieldsPanel() {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const [dialog, setDialog] = useState(null);
  const load = async () => {
    setError(null);
    try {
      const body = await api('GET', '/api/v1/admin/contact-fields');
      setItems((body && body.fields) || []);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, []);
  const remove = async (def) => {
    try {
      await api('DELETE', `/api/v1/admin/contact-fields/${enc(def.key)}`);
      load();
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  const close = () => setDialog(null);
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.contact_fields')}${items && html` <span class="muted">(${items.length})</span>`}</h3>
      <span class="spacer"></span>
      <button id="field-new" type="button" class="button primary" onClick=${() => setDialog({ kind: 'edit', def: null })}>
        ${icons.plus()}<span>${t('fields.new')}</span>
      </button>
    </div>
    <p class="muted">${t('fields.intro')}</p>
    ${error && html`<div class="error" role="alert"><span dir="auto">${error}</span>
      <button type="button" class="button small" onClick=${load}>${t('common.retry')}</button></div>`}
    ${!items && !error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${items && !items.length && html`<p class="muted">${t('fields.none')}</p>`}
    <ul class="admin-list">
      ${(items || []).map((def) => html`
        <li key=${def.key} class="admin-item field-row" data-key=${def.key}>
          <div class="item-main">
            <p class="item-title"><bdi dir="auto" class="field-label">${def.label}</bdi>
              ${' '}<code class="muted small" dir="ltr">${def.key}</code></p>
            <p class="small"><span class="field-type">${fieldTypeLabel(def.type)}</span>${def.type === 'choice' && html`${': '}<bdi dir="auto" class="field-options">${def.options.join(', ')}</bdi>`}</p>
            ${def.description && html`<p class="muted small" dir="auto">${def.description}</p>`}
            <p class="muted small">${t('fields.changed', { when: dateTime(def.updated_at) })}</p>
          </div>
          <div class="item-actions">
            <button type="button" class="button small field-edit" onClick=${() => setDialog({ kind: 'edit', def })}>${t('fields.edit')}</button>
            <button type="button" class="button small danger-text field-delete" onClick=${() => setDialog({ kind: 'delete', def })}>${t('fields.delete')}</button>
          </div>
        </li>`)}
    </ul>
    ${dialog && dialog.kind === 'edit' && html`<${FieldDialog} def=${dialog.def} onClose=${close} onSaved=${load} />`}
    ${dialog && dialog.kind === 'delete' && html`
      <${ConfirmDialog} title=${t('fields.delete')} message=${t('fields.delete_confirm', { label: dialog.def.label })}
        confirmLabel=${t('fields.delete')} danger onConfirm=${() => remove(dialog.def)} onClose=${close} />`}
  `;
}
