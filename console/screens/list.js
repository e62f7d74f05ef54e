// The conversation list: tabs (Mine, each team inbox, Waiting), a search by the last digits
// of the number, and rows that open a conversation.

import { html, useEffect } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { iso, when } from '../lib/format.js';
import { listRows } from '../lib/model.js';
import { currentTab, loadTab, openConversation, selectTab, setSearch, tabs } from '../lib/actions.js';
import { customerName, statusLabel } from './common.js';

/** A tab's element id: `tab-mine`, `tab-team-support`, `tab-waiting`. */
function tabId(key) {
  return 'tab-' + key.replace(/[^A-Za-z0-9_-]/g, '-');
}

function onTabKey(e, all, current) {
  const rtl = document.documentElement.dir === 'rtl';
  const forward = rtl ? 'ArrowLeft' : 'ArrowRight';
  const backward = rtl ? 'ArrowRight' : 'ArrowLeft';
  let i = all.findIndex((x) => x.key === current);
  if (e.key === forward) i = (i + 1) % all.length;
  else if (e.key === backward) i = (i - 1 + all.length) % all.length;
  else if (e.key === 'Home') i = 0;
  else if (e.key === 'End') i = all.length - 1;
  else return;
  e.preventDefault();
  selectTab(all[i].key);
  requestAnimationFrame(() => {
    const el = document.getElementById(tabId(all[i].key));
    if (el) el.focus();
  });
}

function Row({ c, s }) {
  const unread = s.unread[c.id] || 0;
  const preview = s.previews[c.id];
  const phone = c.customer && c.customer.phone;
  const name = customerName(c);
  return html`
    <button type="button" class="conversation-row" data-id=${c.id} data-status=${c.status}
      aria-current=${s.openId === c.id ? 'true' : undefined} onClick=${() => openConversation(c.id)}>
      <span class="row-line">
        <span class="row-name" dir="auto">${name}</span>
        <time class="row-time" datetime=${iso(c.updated_at)}>${when(c.updated_at)}</time>
      </span>
      <span class="row-line">
        ${phone && phone !== name ? html`<bdi class="phone" dir="ltr">${phone}</bdi>` : html`<span></span>`}
        <span class="row-tags">
          <span class=${'status status-' + c.status}>${statusLabel(c.status)}</span>
          ${unread > 0 && html`
            <span class="badge" aria-hidden="true">${unread}</span>
            <span class="visually-hidden">${t('list.unread', { count: unread })}</span>`}
        </span>
      </span>
      ${preview && preview.text && html`<span class="row-preview" dir="auto">${preview.text}</span>`}
    </button>
  `;
}

export function ConversationList({ s }) {
  const all = tabs();
  const tab = currentTab();
  const searching = tab.key.startsWith('search:');
  useEffect(() => {
    loadTab(tab);
  }, [tab.key]);
  const entry = s.lists[tab.key];
  const rows = listRows(s, tab);
  let empty = null;
  if (!rows.length) {
    if (!entry || entry.loading) empty = t('list.loading');
    else if (!entry.error) empty = searching ? t('list.no_match') : t('list.empty');
  }
  return html`
    <div class="list">
      <div class="list-search">
        <label for="search" class="visually-hidden">${t('list.search_label')}</label>
        <input id="search" type="search" inputmode="tel" autocomplete="off" dir="ltr"
          placeholder=${t('list.search_placeholder')} value=${s.search}
          onInput=${(e) => setSearch(e.currentTarget.value)} />
      </div>
      ${searching
        ? html`<p class="list-caption" role="status">${t('list.search_results', { digits: tab.key.slice(7) })}</p>`
        : html`
          <div class="tabs" role="tablist" aria-label=${t('list.tabs')}>
            ${all.map((x) => html`
              <button key=${x.key} type="button" role="tab" id=${tabId(x.key)} class="tab"
                aria-selected=${x.key === tab.key ? 'true' : 'false'} aria-controls="conversation-list"
                tabindex=${x.key === tab.key ? 0 : -1}
                onKeyDown=${(e) => onTabKey(e, all, tab.key)}
                onClick=${() => selectTab(x.key)}>
                ${x.labelKey ? t(x.labelKey) /* i18n-dynamic */ : html`<span dir="auto">${x.label}</span>`}
              </button>`)}
          </div>`}
      ${entry && entry.error && html`
        <div class="error" role="alert">
          ${entry.error}
          <button type="button" class="button" onClick=${() => loadTab(tab, true)}>${t('common.retry')}</button>
        </div>`}
      <div id="conversation-list" class="conversation-list" role=${searching ? undefined : 'tabpanel'}
        aria-labelledby=${searching ? undefined : tabId(tab.key)} aria-busy=${entry && entry.loading ? 'true' : 'false'}>
        <ul class="rows">
          ${rows.map((c) => html`<li key=${c.id}><${Row} c=${c} s=${s} /></li>`)}
        </ul>
        ${empty && html`<p class="list-empty muted">${empty}</p>`}
      </div>
    </div>
  `;
}
