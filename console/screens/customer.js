// The customer panel: who they are, how they reached us, their other conversations, and why
// this conversation came to me (the routing trace); beside these details, a tab per panel app
// (screens/panel-apps.js). Whoever may open the conversation edits
// the contact here: name, email and tags (routing rules see a new tag at the next handoff).

import { html, useState } from '../lib/html.js';
import { K, t, languageLabel } from '../lib/i18n.js';
import { dateTime, iso, when } from '../lib/format.js';
import { isMasked } from '../lib/model.js';
import { editContact, openConversation, reveal, showPane } from '../lib/actions.js';
import { agentName, channelKindLabel, customerName, icons, statusLabel, teamName } from './common.js';
import { PanelAppTabs } from './panel-apps.js';

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

/** The edit of a contact: its name, email and tags. */
function ContactForm({ id, contact, onDone }) {
  const [name, setName] = useState(contact.name || '');
  const [email, setEmail] = useState(contact.email || (contact.fields && contact.fields.email) || '');
  const [tags, setTags] = useState((Array.isArray(contact.tags) ? contact.tags : []).join(', '));
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
    const why = await editContact(id, patch);
    setBusy(false);
    if (why) setError(why);
    else onDone();
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
      ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
      <div class="form-actions">
        <button type="submit" class="primary" disabled=${busy}>${t('common.save')}</button>
        <button type="button" onClick=${onDone} disabled=${busy}>${t('common.cancel')}</button>
      </div>
    </form>`;
}

export function CustomerPanel({ s }) {
  const d = s.detail;
  const c = d.conversation || s.conversations[d.id] || null;
  const contact = d.contact || {};
  const phone = d.revealed || contact.phone || (c && c.customer && c.customer.phone) || '';
  const tags = Array.isArray(contact.tags) ? contact.tags : [];
  const fields = contact.fields && typeof contact.fields === 'object' ? Object.entries(contact.fields) : [];
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
          ${editing && d.contact && html`<${ContactForm} key=${d.id} id=${d.id} contact=${contact} onDone=${() => setEditing(false)} />`}
          <dl class="facts">
            <${Fact} label=${t('customer.phone')}>
              ${phone ? html`<bdi class="phone" dir="ltr">${phone}</bdi>` : none}
              ${isMasked(phone) && !d.revealed && mayReveal(s, c) && html`
                <button type="button" class="link-button" onClick=${() => reveal(c.id)}>${t('customer.reveal')}</button>`}
            <//>
            <${Fact} label=${t('customer.email')}>${email ? html`<bdi dir="ltr">${email}</bdi>` : none}<//>
            <${Fact} label=${t('customer.language')}>${contact.language ? languageLabel(contact.language) : none}<//>
            ${fields.filter(([k]) => k !== 'email').map(([k, v]) => html`<${Fact} key=${k} label=${html`<span dir="auto">${k}</span>`}><span dir="auto">${String(v)}</span><//>`)}
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
