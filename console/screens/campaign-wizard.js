// A new campaign (admins; docs/CAMPAIGNS.md, "Campaigns"), one form in five parts: the
// campaign (name, the WhatsApp number, one of its approved templates, shown with its category
// and body), where each of the template's parameters comes from (a contact field with a default,
// or a fixed text), the audience (a saved segment, less others), when (now or at a time, and
// only within a daily local-time window: each contact's own `timezone` field wins), and a
// frequency cap. Create draft posts it; the server's 422 shows next to the form, and the draft's
// page shows its preview. Editing a draft comes back here with its fields and creates a new
// draft. Pure parts: lib/campaign-model.js.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { K, t } from '../lib/i18n.js';
import { timeZone } from '../lib/format.js';
import { explain } from '../lib/actions.js';
import { api } from '../lib/api.js';
import { draftPreview, placeholder } from '../lib/template-form.js';
import {
  BUILTIN_FIELDS, campaignBody, channelsOf, emptyForm, emptySource, formOf, formOfSpec, sampleValues, slotsOf,
  templateKey, templatesOf,
} from '../lib/campaign-model.js';
import { icons } from './common.js';
import { Bubble } from './template.js';
import { timeZones } from './admin.js';
import { categoryLabel } from './campaigns.js';

const FIELD_KEYS = {
  name: K('campaigns.field.name'),
  phone: K('campaigns.field.phone'),
  language: K('campaigns.field.language'),
  country: K('campaigns.field.country'),
};

const FORMAT_KEYS = {
  IMAGE: K('template.format_image'),
  VIDEO: K('template.format_video'),
  DOCUMENT: K('template.format_document'),
};

const BUTTON_KEYS = {
  url: K('template.button_url'),
  quick_reply: K('template.button_payload'),
  copy_code: K('template.button_code'),
};

/** The user's time zone, else the browser's. */
function myZone() {
  try {
    return timeZone() || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function slotId(key) {
  return 'param-' + key.replace(/[^A-Za-z0-9_-]/g, '-');
}

/** What the wizard needs: the approved templates, the segments, the custom contact fields. */
function useSources() {
  const [data, setData] = useState({ templates: null, fields: [], error: null });
  const load = () => {
    setData((d) => ({ ...d, error: null }));
    Promise.all([
      api('GET', '/api/v1/templates?status=APPROVED'),
      api('GET', '/api/v1/contact-fields').catch(() => ({ fields: [] })),
    ])
      .then(([tpl, fields]) => setData({
        templates: (tpl && tpl.templates) || [],
        fields: (fields && Array.isArray(fields.fields) && fields.fields) || [],
        error: null,
      }))
      .catch((e) => setData({ templates: null, fields: [], error: explain(e) }));
  };
  useEffect(load, []);
  return { ...data, reload: load };
}

export function CampaignWizard({ from, segments, onCancel, onCreated }) {
  const { templates, fields, error: loadError, reload } = useSources();
  const zone = myZone();
  const [form, setForm] = useState(() => emptyForm(zone));
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const ref = useRef(null);
  const errorRef = useRef(null);

  // Editing a draft: its fields, once its template is known.
  const seeded = useRef(false);
  useEffect(() => {
    if (!from || seeded.current || !templates) return;
    seeded.current = true;
    const key = from.template ? templateKey(from.template) : '';
    const tpl = templates.find((x) => x.channel === from.channel && templateKey(x) === key) || null;
    setForm(formOfSpec(from, tpl, zone));
  }, [templates]);
  // A single number: chosen already.
  const channels = channelsOf(templates);
  useEffect(() => {
    if (!form.channel && channels.length === 1 && !from) setForm((f) => ({ ...f, channel: channels[0] }));
  }, [channels.join(',')]);

  const offered = templatesOf(templates, form.channel);
  const template = offered.find((x) => templateKey(x) === form.template) || null;
  const tplForm = template ? formOf(template) : null;
  const slots = slotsOf(tplForm);
  const labelOf = (key) => {
    if (FIELD_KEYS[key]) return t(FIELD_KEYS[key]); // i18n-dynamic
    const def = fields.find((d) => d.key === key);
    return (def && def.label) || key;
  };

  const set = (patch) => {
    setForm((f) => ({ ...f, ...patch }));
    setError(null);
  };
  const input = (key) => (e) => set({ [key]: e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value });
  const setSource = (key, patch) => {
    const slot = slots.find((x) => x.key === key);
    setForm((f) => ({ ...f, sources: { ...f.sources, [key]: { ...(f.sources[key] || emptySource(slot)), ...patch } } }));
    setError(null);
  };

  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    const checked = campaignBody(form, template, { timeZone: zone });
    if (checked.error) {
      setError(t(checked.error)); // i18n-dynamic
      const el = ref.current && ref.current.querySelector(`[data-field="${checked.field}"]`);
      if (el) el.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const answer = await api('POST', '/api/v1/campaigns', checked.body);
      onCreated(answer.campaign);
    } catch (err) {
      setBusy(false);
      setError(err && err.code === 'invalid_campaign' ? t('campaigns.invalid', { message: err.message }) : explain(err));
      requestAnimationFrame(() => errorRef.current && errorRef.current.scrollIntoView({ block: 'nearest' }));
    }
  };

  const head = html`
    <header class="view-head campaign-head">
      <button id="campaign-back" type="button" class="button ghost back-button" onClick=${onCancel}>
        ${icons.back()}<span>${t('campaigns.back')}</span>
      </button>
      <h2 id="campaigns-title" class="view-title" tabindex="-1">${from ? t('campaigns.edit_title') : t('campaigns.new')}</h2>
    </header>`;
  if (loadError) {
    return html`${head}<div class="error" role="alert"><span dir="auto">${loadError}</span>
      <button type="button" class="button small" onClick=${reload}>${t('common.retry')}</button></div>`;
  }
  if (!templates || !segments) return html`${head}<p class="muted" role="status">${t('list.loading')}</p>`;

  const shown = template ? draftPreview({ form: tplForm }, sampleValues(slots, form.sources, labelOf)) : null;
  const others = segments.filter((x) => x.id !== form.segment);
  return html`
    ${head}
    ${from && html`<p class="muted">${t('campaigns.edit_hint')}</p>`}
    <form id="campaign-form" ref=${ref} class="campaign-form" onSubmit=${submit} novalidate>
      <fieldset class="campaign-part">
        <legend>${t('campaigns.part.campaign')}</legend>
        <div class="field">
          <label for="campaign-name">${t('campaigns.name')}</label>
          <input id="campaign-name" data-field="name" type="text" dir="auto" required maxlength="200" autocomplete="off"
            value=${form.name} onInput=${input('name')} />
        </div>
        <div class="form-grid">
          <div class="field">
            <label for="campaign-channel">${t('campaigns.channel')}</label>
            <select id="campaign-channel" data-field="channel" value=${form.channel}
              onChange=${(e) => set({ channel: e.currentTarget.value, template: '', sources: {} })}>
              <option value="">${t('campaigns.choose')}</option>
              ${channels.map((c) => html`<option key=${c} value=${c}>${c}</option>`)}
            </select>
            ${!channels.length && html`<p class="muted small">${t('campaigns.no_templates')}</p>`}
          </div>
          <div class="field">
            <label for="campaign-template">${t('campaigns.template')}</label>
            <select id="campaign-template" data-field="template" value=${form.template} disabled=${!form.channel}
              onChange=${(e) => set({ template: e.currentTarget.value, sources: {} })}>
              <option value="">${t('campaigns.choose')}</option>
              ${offered.map((x) => html`
                <option key=${templateKey(x)} value=${templateKey(x)}>${x.name} (${x.language}) · ${categoryLabel(x.category)}</option>`)}
            </select>
          </div>
        </div>
      </fieldset>

      <aside id="campaign-template-info" class="campaign-aside" aria-labelledby="campaign-template-info-title">
        <h3 id="campaign-template-info-title" class="subheading">${t('campaigns.message')}</h3>
        ${!template && html`<p class="muted small">${t('campaigns.message_empty')}</p>`}
        ${template && html`
          <p class="small"><span class="tag">${categoryLabel(template.category)}</span>
            ${template.category === 'MARKETING' && html` <span class="muted">${t('campaigns.marketing_hint')}</span>`}</p>
          ${tplForm.body && html`<p class="muted small template-raw" dir="auto">${tplForm.body}</p>`}
          <${Bubble} p=${shown} id="campaign-bubble" />
          <p class="muted small">${t('campaigns.message_hint')}</p>`}
      </aside>

      <fieldset class="campaign-part" id="campaign-parameters">
        <legend>${t('campaigns.part.parameters')}</legend>
        ${!template && html`<p class="muted small">${t('campaigns.parameters_first')}</p>`}
        ${template && !slots.length && html`<p class="muted small">${t('template.no_parameters')}</p>`}
        ${template && slots.length > 0 && html`<p class="muted small">${t('campaigns.parameters_hint')}</p>`}
        ${slots.map((slot) => html`<${Slot} key=${form.template + slot.key} slot=${slot} fields=${fields} labelOf=${labelOf}
          src=${form.sources[slot.key] || emptySource(slot)} onChange=${(patch) => setSource(slot.key, patch)} />`)}
      </fieldset>

      <fieldset class="campaign-part">
        <legend>${t('campaigns.part.audience')}</legend>
        <div class="field">
          <label for="campaign-segment">${t('campaigns.segment')}</label>
          <select id="campaign-segment" data-field="segment" value=${form.segment}
            onChange=${(e) => set({ segment: e.currentTarget.value, exclude: form.exclude.filter((x) => x !== e.currentTarget.value) })}>
            <option value="">${t('campaigns.choose')}</option>
            ${segments.map((x) => html`<option key=${x.id} value=${x.id}>${x.name}</option>`)}
          </select>
          ${!segments.length && html`<p class="muted small">${t('campaigns.no_segments')}</p>`}
        </div>
        <fieldset id="campaign-exclude" class="checks" data-field="exclude">
          <legend>${t('campaigns.exclude')}</legend>
          ${others.length
            ? html`<div class="checks-list">
                ${others.map((x) => html`
                  <label key=${x.id} class="check">
                    <input type="checkbox" name="campaign-exclude" value=${x.id} checked=${form.exclude.includes(x.id)}
                      onChange=${(e) => set({ exclude: e.currentTarget.checked ? [...form.exclude, x.id] : form.exclude.filter((y) => y !== x.id) })} />
                    <span dir="auto">${x.name}</span>
                  </label>`)}
              </div>`
            : html`<p class="muted small">${t('campaigns.exclude_none')}</p>`}
        </fieldset>
        <p class="muted small">${t('campaigns.audience_hint')}</p>
      </fieldset>

      <fieldset class="campaign-part">
        <legend>${t('campaigns.part.when')}</legend>
        <div class="segmented" role="radiogroup" aria-label=${t('campaigns.when')}>
          <label><input id="campaign-when-now" type="radio" name="campaign-when" value="now" checked=${form.when === 'now'}
            onChange=${() => set({ when: 'now' })} /> ${t('campaigns.when_now')}</label>
          <label><input id="campaign-when-at" type="radio" name="campaign-when" value="at" checked=${form.when === 'at'}
            onChange=${() => set({ when: 'at' })} /> ${t('campaigns.when_at')}</label>
        </div>
        ${form.when === 'at' && html`
          <div class="field">
            <label for="campaign-start-at">${t('campaigns.start_at')}</label>
            <input id="campaign-start-at" data-field="start_at" type="datetime-local" dir="ltr" value=${form.start_at}
              aria-describedby="campaign-start-at-hint" onInput=${input('start_at')} />
            <p id="campaign-start-at-hint" class="muted small">${t('campaigns.start_at_hint', { zone })}</p>
          </div>`}
        <label class="check check-wide">
          <input id="campaign-window" type="checkbox" checked=${form.window} onChange=${input('window')} />
          <span>${t('campaigns.window')}</span>
        </label>
        ${form.window && html`
          <div class="form-grid campaign-window">
            <div class="field">
              <label for="campaign-window-from">${t('campaigns.window_from')}</label>
              <input id="campaign-window-from" data-field="window_from" type="time" dir="ltr" value=${form.window_from} onInput=${input('window_from')} />
            </div>
            <div class="field">
              <label for="campaign-window-to">${t('campaigns.window_to')}</label>
              <input id="campaign-window-to" data-field="window_to" type="time" dir="ltr" value=${form.window_to} onInput=${input('window_to')} />
            </div>
            <div class="field">
              <label for="campaign-window-tz">${t('campaigns.window_tz')}</label>
              <input id="campaign-window-tz" data-field="window_tz" type="text" dir="ltr" list="campaign-zones" autocomplete="off"
                spellcheck="false" value=${form.window_tz} onInput=${input('window_tz')} />
              <datalist id="campaign-zones">${timeZones().map((z) => html`<option key=${z} value=${z} />`)}</datalist>
            </div>
          </div>
          <p class="field-hint">${t('campaigns.window_hint')}</p>`}
      </fieldset>

      <fieldset class="campaign-part">
        <legend>${t('campaigns.part.cap')}</legend>
        <label class="check check-wide">
          <input id="campaign-cap" type="checkbox" checked=${form.cap} onChange=${input('cap')} />
          <span>${t('campaigns.cap_on')}</span>
        </label>
        ${form.cap && html`
          <div class="campaign-cap">
            <label for="campaign-cap-messages" class="visually-hidden">${t('campaigns.cap_messages')}</label>
            <input id="campaign-cap-messages" data-field="cap_messages" type="number" inputmode="numeric" min="1" step="1" dir="ltr"
              value=${form.cap_messages} onInput=${input('cap_messages')} />
            <span>${t('campaigns.cap_messages_in')}</span>
            <label for="campaign-cap-days" class="visually-hidden">${t('campaigns.cap_days')}</label>
            <input id="campaign-cap-days" data-field="cap_days" type="number" inputmode="numeric" min="1" max="365" step="1" dir="ltr"
              value=${form.cap_days} onInput=${input('cap_days')} />
            <span>${t('campaigns.cap_days_unit')}</span>
          </div>`}
        <p class="muted small">${t('campaigns.cap_hint')}</p>
      </fieldset>

      <div class="campaign-submit">
        ${error && html`<p id="campaign-error" ref=${errorRef} class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onCancel}>${t('common.cancel')}</button>
          <button id="campaign-create" type="submit" class="button primary" disabled=${busy} aria-busy=${busy ? 'true' : 'false'}>
            ${t('campaigns.create')}
          </button>
        </div>
        <p class="muted small">${t('campaigns.create_hint')}</p>
      </div>
    </form>
  `;
}

/** Where one parameter's value comes from. */
function Slot({ slot, fields, labelOf, src, onChange }) {
  const id = slotId(slot.key);
  if (slot.kind === 'header-media') {
    const format = t(FORMAT_KEYS[slot.format] || K('template.format_image')); // i18n-dynamic
    return html`
      <fieldset class="param" data-param=${slot.key}>
        <legend>${t('template.header_media', { format })}</legend>
        <div class="segmented" role="radiogroup" aria-label=${t('template.media_source')}>
          <label><input type="radio" name=${id + '-kind'} value="link" checked=${src.kind !== 'id'} onChange=${() => onChange({ kind: 'link' })} /> ${t('template.media_link')}</label>
          <label><input type="radio" name=${id + '-kind'} value="id" checked=${src.kind === 'id'} onChange=${() => onChange({ kind: 'id' })} /> ${t('template.media_id')}</label>
        </div>
        <input id=${id + '-value'} data-field=${slot.key} dir="ltr" type=${src.kind === 'id' ? 'text' : 'url'} value=${src.value || ''}
          aria-label=${src.kind === 'id' ? t('template.media_id') : t('template.media_link')}
          placeholder=${src.kind === 'id' ? '4490709327384033' : 'https://'} onInput=${(e) => onChange({ value: e.currentTarget.value })} />
        <p class="muted small">${t('campaigns.media_hint')}</p>
      </fieldset>`;
  }
  let label;
  if (slot.kind === 'header-text') label = t('template.header_text', { name: placeholder(slot.name) });
  else if (slot.kind === 'body') label = t('template.body_parameter', { name: placeholder(slot.name) });
  else label = t(BUTTON_KEYS[slot.subType] || K('template.button_url'), { text: slot.text }); // i18n-dynamic
  const choice = src.kind === 'field' ? 'field:' + (src.field || '') : src.kind;
  const pick = (value) => {
    if (value === 'value' || value === 'none') onChange({ kind: value });
    else onChange({ kind: 'field', field: value.slice('field:'.length) });
  };
  const custom = fields.filter((d) => !BUILTIN_FIELDS.includes(d.key));
  return html`
    <fieldset class="param" data-param=${slot.key}>
      <legend dir="auto">${label}${!slot.required ? html` <span class="muted">${t('template.optional')}</span>` : ''}</legend>
      ${slot.url && html`<p class="field-hint" dir="ltr">${slot.url}</p>`}
      <div class="param-row">
        <div class="field">
          <label for=${id + '-source'}>${t('campaigns.source')}</label>
          <select id=${id + '-source'} data-field=${slot.key} value=${choice} onChange=${(e) => pick(e.currentTarget.value)}>
            ${!slot.required && html`<option value="none">${t('campaigns.source_none')}</option>`}
            <option value="field:">${t('campaigns.choose')}</option>
            <optgroup label=${t('campaigns.source_contact')}>
              ${BUILTIN_FIELDS.map((f) => html`<option key=${f} value=${'field:' + f}>${labelOf(f)}</option>`)}
              ${custom.map((d) => html`<option key=${d.key} value=${'field:' + d.key}>${d.label || d.key}</option>`)}
            </optgroup>
            <option value="value">${t('campaigns.source_value')}</option>
          </select>
        </div>
        ${src.kind === 'field' && html`
          <div class="field">
            <label for=${id + '-default'}>${t('campaigns.default')}</label>
            <input id=${id + '-default'} type="text" dir="auto" value=${src.default || ''} aria-describedby=${id + '-default-hint'}
              onInput=${(e) => onChange({ default: e.currentTarget.value })} />
            <p id=${id + '-default-hint'} class="muted small">${t('campaigns.default_hint')}</p>
          </div>`}
        ${src.kind === 'value' && html`
          <div class="field">
            <label for=${id + '-value'}>${t('campaigns.value')}</label>
            <input id=${id + '-value'} type="text" dir="auto" value=${src.value || ''}
              onInput=${(e) => onChange({ value: e.currentTarget.value })} />
          </div>`}
      </div>
    </fieldset>`;
}
