// The customer panel: who they are, how they reached us, their other conversations, and why
// this conversation came to me (the routing trace); beside these details, a tab per panel app
// (screens/panel-apps.js). Whoever may open the conversation edits
// the contact here: name, email, tags (routing rules see a new tag at the next handoff) and the
// custom fields admins defined, each with an input of its type (the server checks the value and
// its refusal is shown); fields nobody defined are shown as they are. The consent section shows
// the contact's marketing consent per WhatsApp number (the ledger's last event, docs/CAMPAIGNS.md)
// and lets the agent record an opt-in with the customer's words as proof.

import { html, useEffect, useState } from '../lib/html.js';
import { K, t, languageLabel } from '../lib/i18n.js';
import { dateTime, iso, when } from '../lib/format.js';
import { isMasked } from '../lib/model.js';
import { editContact, openConversation, reveal, showPane } from '../lib/actions.js';
import { agentName, channelKindLabel, customerName, icons, statusLabel, teamName } from './common.js';
import { PanelAppTabs } from './panel-apps.js';
import { api } from '../lib/api.js';
import { fieldValues, fieldsPatch, namedRefusal, splitFields } from '../lib/contact-fields.js';

/** The contact field definitions, read again each time a panel opens (an admin may change them). */
let knownDefs = null;
function useFieldDefs() {
  const [defs, setDefs] = useState(knownDefs || []);
  useEffect(() => {
    let live = true;
    api('GET', '/api/v1/contact-fields')
      .then((body) => {
        knownDefs = (body && Array.isArray(body.fields) && body.fields) || [];
        if (live) setDefs(knownDefs);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, []);
  return defs;
}

/** A defined field's value as shown: yes/no for a boolean, the value otherwise. */
function shownValue(def, value) {
  if (def.type === 'boolean' && value === 'true') return t('fields.yes');
  if (def.type === 'boolean' && value === 'false') return t('fields.no');
  return value;
}

/** The input of one defined field. */
function FieldInput({ def, value, onChange }) {
  const id = 'contact-field-' + def.key;
  const set = (e) => onChange(e.currentTarget.value);
  if (def.type === 'boolean') {
    return html`<label class="check contact-field-check" for=${id}>
      <input id=${id} type="checkbox" data-key=${def.key} checked=${value === 'true'}
        onChange=${(e) => onChange(e.currentTarget.checked ? 'true' : 'false')} />
      <span dir="auto">${def.label}</span></label>`;
  }
  const label = html`<label for=${id}><bdi dir="auto">${def.label}</bdi></label>`;
  if (def.type === 'choice') {
    const options = def.options.includes(value) || value === '' ? def.options : [value, ...def.options];
    return html`${label}<select id=${id} data-key=${def.key} value=${value} onChange=${set}>
      <option value="">${t('common.none')}</option>
      ${options.map((o) => html`<option key=${o} value=${o}>${o}</option>`)}
    </select>`;
  }
  if (def.type === 'date') {
    return html`${label}<input id=${id} type="date" data-key=${def.key} dir="ltr" value=${value} onInput=${set} />`;
  }
  if (def.type === 'number') {
    return html`${label}<input id=${id} type="text" inputmode="decimal" data-key=${def.key} dir="ltr" autocomplete="off" value=${value} onInput=${set} />`;
  }
  return html`${label}<input id=${id} type="text" data-key=${def.key} dir="auto" maxlength="1000" autocomplete="off" value=${value} onInput=${set} />`;
}

/** ` (kind)` after a channel's id: the name of its kind, when it differs from the channel's id. */
function kindLabel(identity) {
  const label = channelKindLabel(identity.kind);
  return label && label !== identity.channel ? ` (${label})` : '';
}

function mayReveal(s, c) {
  const user = s.me && s.me.user;
  if (!user || !c) return false;
  return user.role === 'admin' || (Array.isArray(user.supervises) && user.supervises.includes(c.team));
}

function Fact({ label, children }) {
  return html`<div class="fact"><dt>${label}</dt><dd>${children}</dd></div>`;
}

/** Tags as typed: split on commas, trimmed, empty ones dropped (the server checks the rest). */
export function parseTags(text) {
  return String(text || '').split(',').map((tag) => tag.trim()).filter((tag) => tag !== '');
}

/** The edit of a contact: its name, email, tags and defined fields. */
function ContactForm({ id, contact, defs, onDone }) {
  const [name, setName] = useState(contact.name || '');
  const [email, setEmail] = useState(contact.email || (contact.fields && contact.fields.email) || '');
  const [tags, setTags] = useState((Array.isArray(contact.tags) ? contact.tags : []).join(', '));
  const [values, setValues] = useState(() => fieldValues(defs, contact.fields));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function save(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const patch = {
      name: name.trim() === '' ? null : name.trim(),
      email: email.trim() === '' ? null : email.trim(),
      tags: parseTags(tags),
    };
    const fields = fieldsPatch(defs, contact.fields, values);
    if (fields) patch.fields = fields;
    const why = await editContact(id, patch);
    setBusy(false);
    if (why) {
      setError(namedRefusal(defs, why));
      // The refusal under the last field: brought into view.
      requestAnimationFrame(() => {
        const shown = document.querySelector('#contact-form .error');
        if (shown) shown.scrollIntoView({ block: 'nearest' });
      });
    } else onDone();
  }
  return html`
    <form id="contact-form" class="contact-form" onSubmit=${save} aria-labelledby="contact-form-title">
      <h4 id="contact-form-title" class="subheading">${t('customer.edit_title')}</h4>
      <label for="contact-name">${t('customer.name')}</label>
      <input id="contact-name" type="text" dir="auto" maxlength="200" autocomplete="off" value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
      <label for="contact-email">${t('customer.email')}</label>
      <input id="contact-email" type="email" dir="ltr" maxlength="254" autocomplete="off" value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} />
      <label for="contact-tags">${t('customer.tags')}</label>
      <input id="contact-tags" type="text" dir="auto" autocomplete="off" aria-describedby="contact-tags-hint" value=${tags} onInput=${(e) => setTags(e.currentTarget.value)} />
      <p id="contact-tags-hint" class="muted field-hint">${t('customer.tags_hint')}</p>
      ${defs.map((def) => html`<${FieldInput} key=${def.key} def=${def}
        value=${values[def.key] ?? ''} onChange=${(v) => setValues({ ...values, [def.key]: v })} />`)}
      ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
      <div class="form-actions">
        <button type="submit" class="primary" disabled=${busy}>${t('common.save')}</button>
        <button type="button" onClick=${onDone} disabled=${busy}>${t('common.cancel')}</button>
      </div>
    </form>`;
}

const CONSENT_STATE_KEYS = {
  opted_in: K('consent.opted_in'),
  opted_out: K('consent.opted_out'),
  none: K('consent.never'),
};
const CONSENT_SOURCE_KEYS = {
  bot: K('consent.source.bot'),
  web_form: K('consent.source.web_form'),
  import: K('consent.source.import'),
  agent: K('consent.source.agent'),
  keyword: K('consent.source.keyword'),
  user_preferences: K('consent.source.user_preferences'),
  error_131050: K('consent.source.error_131050'),
  api: K('consent.source.api'),
};

function consentStateLabel(state) {
  return t(CONSENT_STATE_KEYS[state] || CONSENT_STATE_KEYS.none) /* i18n-dynamic */;
}

function consentSourceLabel(source) {
  return CONSENT_SOURCE_KEYS[source] ? t(CONSENT_SOURCE_KEYS[source]) /* i18n-dynamic */ : String(source || '');
}

/** The contact's marketing consent per WhatsApp number, and a form to record an opt-in. */
function ConsentSection({ contactId }) {
  const [consent, setConsent] = useState(null);
  const [channel, setChannel] = useState('');
  const [proof, setProof] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [recording, setRecording] = useState(false);
  useEffect(() => {
    let live = true;
    setConsent(null);
    api('GET', `/api/v1/contacts/${encodeURIComponent(contactId)}/consent`)
      .then((body) => { if (live) setConsent(Array.isArray(body.consent) ? body.consent : []); })
      .catch(() => { if (live) setConsent([]); });
    return () => { live = false; };
  }, [contactId]);
  if (!consent || consent.length === 0) return null;
  const chosen = channel || consent[0].channel;
  async function record(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = await api('POST', `/api/v1/contacts/${encodeURIComponent(contactId)}/consent`,
        { channel: chosen, proof: proof.trim() });
      setConsent(body.consent);
      setProof('');
      setRecording(false);
    } catch (err) {
      setError(err.message);
    }
    setBusy(false);
  }
  return html`
    <section class="panel-section" id="consent-section">
      <h3>${t('consent.title')}</h3>
      <ul class="identities consent">
        ${consent.map((c) => {
          const last = c.history && c.history.length ? c.history[c.history.length - 1] : null;
          return html`
            <li key=${c.channel} data-channel=${c.channel} data-state=${c.state || 'none'}>
              <span class="identity-channel" dir="auto">${c.channel}</span>
              <span class=${'consent-state consent-' + (c.state || 'none')}>${consentStateLabel(c.state)}</span>
              ${last && html`<span class="muted">${t('consent.since', { when: dateTime(last.at), source: consentSourceLabel(last.source) })}</span>`}
            </li>`;
        })}
      </ul>
      ${!recording && html`<button type="button" id="record-consent" class="link-button" onClick=${() => setRecording(true)}>${t('consent.record')}</button>`}
      ${recording && html`
        <form class="contact-form" onSubmit=${record} aria-labelledby="consent-form-title">
          <h4 id="consent-form-title" class="subheading">${t('consent.record')}</h4>
          ${consent.length > 1 && html`
            <label for="consent-channel">${t('consent.channel')}</label>
            <select id="consent-channel" value=${chosen} onChange=${(e) => setChannel(e.currentTarget.value)}>
              ${consent.map((c) => html`<option key=${c.channel} value=${c.channel}>${c.channel}</option>`)}
            </select>`}
          <label for="consent-proof">${t('consent.proof')}</label>
          <textarea id="consent-proof" dir="auto" maxlength="2000" rows="3" aria-describedby="consent-proof-hint"
            value=${proof} onInput=${(e) => setProof(e.currentTarget.value)}></textarea>
          <p id="consent-proof-hint" class="muted field-hint">${t('consent.proof_hint')}</p>
          ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
          <div class="form-actions">
            <button type="submit" class="primary" disabled=${busy || proof.trim() === ''}>${t('consent.opt_in')}</button>
            <button type="button" onClick=${() => setRecording(false)} disabled=${busy}>${t('common.cancel')}</button>
          </div>
        </form>`}
    </section>`;
}

export function CustomerPanel({ s }) {
  const d = s.detail;
  const c = d.conversation || s.conversations[d.id] || null;
  const contact = d.contact || {};
  const phone = d.revealed || contact.phone || (c && c.customer && c.customer.phone) || '';
  const tags = Array.isArray(contact.tags) ? contact.tags : [];
  const defs = useFieldDefs();
  const fields = splitFields(defs, contact.fields);
  const identities = Array.isArray(contact.identities) ? contact.identities : [];
  const route = (c && c.route) || {};
  const trace = Array.isArray(route.trace) ? route.trace : [];
  const none = html`<span class="muted">${t('common.none')}</span>`;
  const [editing, setEditing] = useState(false);
  const email = contact.email || (contact.fields && contact.fields.email) || '';
  return html`
    <aside id="customer-panel" class="pane pane-customer" aria-labelledby="customer-title">
      <header class="panel-head">
        <button type="button" class="icon-button back" aria-label=${t('customer.back')} onClick=${() => showPane('conversation')}>
          ${icons.back()}
        </button>
        <h2 id="customer-title" tabindex="-1">${t('customer.title')}</h2>
      </header>
      <${PanelAppTabs} key=${d.id} id=${d.id}>
        <section class="panel-section">
          <div class="customer-head">
            <h3 class="customer-name" dir="auto">${contact.name || (c ? customerName(c) : '')}</h3>
            ${!editing && d.contact && html`
              <button type="button" id="edit-contact" class="link-button" onClick=${() => setEditing(true)}>${t('customer.edit')}</button>`}
          </div>
          ${editing && d.contact && html`<${ContactForm} key=${d.id} id=${d.id} contact=${contact} defs=${defs} onDone=${() => setEditing(false)} />`}
          <dl class="facts">
            <${Fact} label=${t('customer.phone')}>
              ${phone ? html`<bdi class="phone" dir="ltr">${phone}</bdi>` : none}
              ${isMasked(phone) && !d.revealed && mayReveal(s, c) && html`
                <button type="button" class="link-button" onClick=${() => reveal(c.id)}>${t('customer.reveal')}</button>`}
            <//>
            <${Fact} label=${t('customer.email')}>${email ? html`<bdi dir="ltr">${email}</bdi>` : none}<//>
            <${Fact} label=${t('customer.language')}>${contact.language ? languageLabel(contact.language) : none}<//>
            ${fields.defined.filter((f) => f.value !== '').map(({ def, value }) => html`
              <${Fact} key=${def.key} label=${html`<span dir="auto" title=${def.description || def.key}>${def.label}</span>`}>
                <span dir=${def.type === 'number' || def.type === 'date' ? 'ltr' : 'auto'} class="contact-field" data-key=${def.key}>${shownValue(def, value)}</span><//>`)}
            ${fields.free.map(([k, v]) => html`<${Fact} key=${k} label=${html`<span dir="auto">${k}</span>`}><span dir="auto" class="contact-field" data-key=${k}>${v}</span><//>`)}
          </dl>
          ${tags.length > 0 && html`
            <h4 class="subheading">${t('customer.tags')}</h4>
            <ul class="tags">${tags.map((tag) => html`<li key=${tag} class="tag" dir="auto">${tag}</li>`)}</ul>`}
        </section>

        <section class="panel-section">
          <h3>${t('customer.why')}</h3>
          <dl class="facts">
            <${Fact} label=${t('customer.team')}>${route.team || (c && c.team) ? teamName(s, route.team || c.team) : none}<//>
            <${Fact} label=${t('customer.priority')}>${route.priority ?? (c && c.priority) ?? none}<//>
            ${route.preferred_agent && html`<${Fact} label=${t('customer.preferred_agent')}>${agentName(s, route.preferred_agent)}<//>`}
          </dl>
          ${trace.length
            ? html`<ol class="trace">${trace.map((step, i) => html`<li key=${i}><span dir="auto">${String(step)}</span></li>`)}</ol>`
            : html`<p class="muted">${t('customer.no_trace')}</p>`}
        </section>

        <section class="panel-section">
          <h3>${t('customer.identities')}</h3>
          ${identities.length
            ? html`<ul class="identities">
                ${identities.map((i) => html`
                  <li key=${i.channel + ':' + i.address}>
                    <span class="identity-channel" dir="auto">${i.channel}${kindLabel(i)}</span>
                    <bdi class="phone" dir="ltr">${i.address}</bdi>
                    ${typeof i.first_seen === 'number' && html`
                      <span class="muted">${t('customer.first_seen', { when: dateTime(i.first_seen) })}</span>`}
                  </li>`)}
              </ul>`
            : html`<p class="muted">${t('common.none')}</p>`}
        </section>

        ${contact.id && html`<${ConsentSection} key=${contact.id} contactId=${contact.id} />`}

        <section class="panel-section">
          <h3>${t('customer.history')}</h3>
          ${d.history && d.history.length
            ? html`<ul class="history">
                ${d.history.map((h) => html`
                  <li key=${h.id}>
                    <button type="button" class="history-item" data-id=${h.id} onClick=${() => openConversation(h.id)}>
                      <time datetime=${iso(h.created_at)}>${when(h.created_at)}</time>
                      <span class=${'status status-' + h.status}>${statusLabel(h.status)}</span>
                      ${h.team && html`<span class="muted">${teamName(s, h.team)}</span>`}
                    </button>
                  </li>`)}
              </ul>`
            : html`<p class="muted">${t('customer.no_history')}</p>`}
        </section>
      <//>
    </aside>
  `;
}
