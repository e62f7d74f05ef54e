// Sending a WhatsApp template from the composer (docs/CAMPAIGNS.md, "Sending a template"): the
// conversation's number's approved templates (those in the customer's language first), a
// field for each parameter (the header's text, or its media by link or id; the body's; the
// buttons' that take a value), a live preview (the server's once every value is there, a
// draft with the placeholders before), Send. Pure parts: lib/template-form.js.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { explain, loadTemplates, previewTemplate, sendTemplate } from '../lib/actions.js';
import { complete, draftPreview, fieldsOf, fillOf, placeholder, unsupported } from '../lib/template-form.js';
import { Modal } from './common.js';

const CATEGORY_KEYS = {
  MARKETING: K('template.category_marketing'),
  UTILITY: K('template.category_utility'),
  AUTHENTICATION: K('template.category_authentication'),
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

/** How long the preview waits after the typing pauses. */
const PREVIEW_DELAY = 300;

function categoryLabel(category) {
  const key = CATEGORY_KEYS[category];
  return key ? t(key) : category; // i18n-dynamic
}

function keyOf(x) {
  return x.name + '/' + x.language;
}

export function TemplateDialog({ c, onClose }) {
  const [list, setList] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [chosen, setChosen] = useState('');
  const [values, setValues] = useState({});
  const [source, setSource] = useState('link');
  const [preview, setPreview] = useState(null);
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const asked = useRef(0);

  useEffect(() => {
    let live = true;
    loadTemplates(c.id)
      .then((body) => {
        if (!live) return;
        const templates = (body && Array.isArray(body.templates) ? body.templates : []).filter((x) => !unsupported(x.form));
        setList(templates);
        if (templates.length) setChosen(keyOf(templates[0]));
      })
      .catch((e) => live && setLoadError(explain(e)));
    return () => {
      live = false;
    };
  }, [c.id]);

  const template = (list || []).find((x) => keyOf(x) === chosen) || null;
  const fields = template ? fieldsOf(template.form) : [];
  const ready = template && complete(template, values);
  const fill = template ? fillOf(template, values, source) : null;
  const fillKey = JSON.stringify(fill);

  // The server's preview once every value is there; a draft before.
  useEffect(() => {
    setPreview(null);
    setProblem(null);
    if (!template || !ready) return undefined;
    const n = ++asked.current;
    const timer = setTimeout(() => {
      previewTemplate(c.channel, fill)
        .then((body) => n === asked.current && setPreview(body && body.preview))
        .catch((e) => n === asked.current && setProblem(e && e.message ? e.message : explain(e)));
    }, PREVIEW_DELAY);
    return () => clearTimeout(timer);
  }, [fillKey, ready]);

  const choose = (key) => {
    setChosen(key);
    setValues({});
    setError(null);
  };
  const set = (key, value) => {
    setValues((v) => ({ ...v, [key]: value }));
    setError(null);
  };
  const send = async () => {
    if (!template || busy) return;
    setBusy(true);
    setError(null);
    try {
      await sendTemplate(c.id, fill);
      onClose();
    } catch (e) {
      setError(explain(e));
      setBusy(false);
    }
  };

  const shown = preview || (template ? draftPreview(template, values) : null);
  return html`
    <${Modal} id="template-dialog" title=${t('template.title')} onClose=${onClose}>
      ${loadError && html`<p class="error" role="alert" dir="auto">${loadError}</p>`}
      ${!list && !loadError && html`<p class="muted">${t('template.loading')}</p>`}
      ${list && !list.length && html`<p id="template-none" class="muted">${t('template.none')}</p>`}
      ${list && list.length > 0 && html`
        <div class="template-layout">
          <div class="template-fields">
            <div class="field">
              <label for="template-choice">${t('template.choose')}</label>
              <select id="template-choice" value=${chosen} onChange=${(e) => choose(e.currentTarget.value)}>
                ${list.map((x) => html`
                  <option key=${keyOf(x)} value=${keyOf(x)}>${x.name} (${x.language}) · ${categoryLabel(x.category)}</option>`)}
              </select>
            </div>
            ${template && template.category === 'MARKETING' && html`<p class="field-hint">${t('template.marketing_consent')}</p>`}
            ${template && !fields.length && html`<p class="muted">${t('template.no_parameters')}</p>`}
            ${fields.map((f) => html`<${Field} key=${chosen + f.key} f=${f} value=${values[f.key] || ''} source=${source}
              onSource=${setSource} onInput=${(v) => set(f.key, v)} />`)}
          </div>
          <section class="template-preview" aria-labelledby="template-preview-title">
            <h3 id="template-preview-title" class="subheading">${t('template.preview')}</h3>
            ${shown && html`<${Bubble} p=${shown} />`}
            <p id="template-preview-state" class="field-hint" role="status" dir="auto"
              data-state=${problem ? 'problem' : preview ? 'ready' : 'draft'}>
              ${problem || (preview ? t('template.preview_ready') : t('template.preview_pending'))}
            </p>
          </section>
        </div>
        ${error && html`<p id="template-error" class="error" role="alert" dir="auto">${error}</p>`}
        <button id="template-send" type="button" class="button primary wide" disabled=${!template || busy} onClick=${send}>
          ${t('template.send')}
        </button>`}
    <//>
  `;
}

/** One parameter's input, labelled by where it goes. */
function Field({ f, value, source, onSource, onInput }) {
  const id = 'template-' + f.key.replace(/[^A-Za-z0-9_-]/g, '-');
  if (f.kind === 'header-media') {
    const format = t(FORMAT_KEYS[f.format] || K('template.format_image')); // i18n-dynamic
    return html`
      <fieldset class="field template-media">
        <legend>${t('template.header_media', { format })}</legend>
        <div class="segmented" role="radiogroup" aria-label=${t('template.media_source')}>
          <label><input type="radio" name="template-source" value="link" checked=${source === 'link'} onChange=${() => onSource('link')} /> ${t('template.media_link')}</label>
          <label><input type="radio" name="template-source" value="id" checked=${source === 'id'} onChange=${() => onSource('id')} /> ${t('template.media_id')}</label>
        </div>
        <input id=${id} data-field=${f.key} dir="ltr" type=${source === 'link' ? 'url' : 'text'} value=${value} aria-label=${source === 'link' ? t('template.media_link') : t('template.media_id')}
          placeholder=${source === 'link' ? 'https://' : '4490709327384033'} onInput=${(e) => onInput(e.currentTarget.value)} />
      </fieldset>`;
  }
  let label;
  if (f.kind === 'header-text') label = t('template.header_text', { name: placeholder(f.name) });
  else if (f.kind === 'body') label = t('template.body_parameter', { name: placeholder(f.name) });
  else label = t(BUTTON_KEYS[f.subType] || K('template.button_url'), { text: f.text }); // i18n-dynamic
  const ltr = f.kind === 'button' && f.subType !== 'quick_reply';
  return html`
    <div class="field">
      <label for=${id} dir="auto">${label}${!f.required ? html` <span class="muted">${t('template.optional')}</span>` : ''}</label>
      ${f.url && html`<span class="field-hint" dir="ltr">${f.url}</span>`}
      <input id=${id} data-field=${f.key} dir=${ltr ? 'ltr' : 'auto'} value=${value} onInput=${(e) => onInput(e.currentTarget.value)} />
    </div>`;
}

/** The message as WhatsApp shows it: header, body, footer, buttons (also the campaigns' sample). */
export function Bubble({ p, id = 'template-bubble' }) {
  const header = p.header;
  let media = null;
  if (header && header.format !== 'TEXT') {
    const format = t(FORMAT_KEYS[header.format] || K('template.format_image')); // i18n-dynamic
    const where = header.media ? header.media.link || header.media.id || '' : '';
    media = html`<p class="template-media-box"><strong>${format}</strong>${where && html`<bdi dir="ltr">${where}</bdi>`}</p>`;
  }
  return html`
    <div id=${id} class="template-bubble">
      ${media}
      ${header && header.format === 'TEXT' && header.text && html`<p class="template-header" dir="auto">${header.text}</p>`}
      <p class="template-body" dir="auto">${p.body}</p>
      ${p.footer && html`<p class="template-footer" dir="auto">${p.footer}</p>`}
      ${p.buttons && p.buttons.length > 0 && html`
        <ul class="template-buttons">
          ${p.buttons.map((b, i) => html`
            <li key=${i} data-type=${b.type}>
              <span dir="auto">${b.text}</span>
              ${b.url && html`<bdi class="template-url" dir="ltr">${b.url}</bdi>`}
            </li>`)}
        </ul>`}
    </div>`;
}
