// The top bar: the views the role may open (inbox, board, reports, contacts, campaigns,
// administration), who I am (a menu: my API tokens, change password, log out everywhere), my
// presence, my load, the live connection, logout.

import { html } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { logout, openDialog, setPresence, setView } from '../lib/actions.js';
import { allowedViews, unreadTotal, viewFor } from '../lib/model.js';
import { currentUser, icons, presenceLabel } from './common.js';
import { UserMenu } from './account.js';

const PRESENCES = ['online', 'away', 'offline'];

const VIEW_KEYS = {
  inbox: K('nav.inbox'),
  board: K('nav.board'),
  reports: K('nav.reports'),
  contacts: K('nav.contacts'),
  campaigns: K('nav.campaigns'),
  admin: K('nav.admin'),
};

function ViewNav({ s, user }) {
  const views = allowedViews(user);
  if (views.length < 2) return null;
  const current = viewFor(user, s.view);
  const waiting = unreadTotal(s) + Object.keys(s.offers).length;
  return html`
    <nav class="views" aria-label=${t('nav.label')}>
      ${views.map((v) => {
        const label = t(VIEW_KEYS[v]); // i18n-dynamic
        const badge = v === 'inbox' && current !== 'inbox' && waiting > 0;
        return html`
          <button key=${v} id=${'nav-' + v} type="button" class="view-button" title=${label}
            aria-current=${v === current ? 'page' : undefined} onClick=${() => setView(v)}>
            ${icons[v]()}<span class="label">${label}</span>
            ${badge && html`<span class="badge" aria-hidden="true">${waiting}</span>
              <span class="visually-hidden">${t('nav.waiting', { count: waiting })}</span>`}
          </button>`;
      })}
    </nav>
  `;
}

export function TopBar({ s }) {
  const user = currentUser(s) || {};
  const agent = s.me && s.me.agent;
  const presence = (agent && agent.presence) || 'offline';
  const connected = s.connection === 'connected';
  const connectionText = connected
    ? t('connection.connected')
    : s.everConnected
      ? t('connection.reconnecting')
      : t('connection.connecting');
  return html`
    <header class="topbar">
      <h1 class="brand">${t('app.title')}</h1>
      <${ViewNav} s=${s} user=${user} />
      <${UserMenu} user=${user} />
      <span class="presence-field" data-presence=${presence}>
        <label for="presence" class="visually-hidden">${t('presence.label')}</label>
        <span class="dot" aria-hidden="true"></span>
        <select id="presence" value=${presence} onChange=${(e) => setPresence(e.currentTarget.value)}>
          ${PRESENCES.map((p) => html`<option key=${p} value=${p}>${presenceLabel(p)}</option>`)}
        </select>
      </span>
      ${agent && html`
        <span class="load" title=${t('top.load_title')}>
          ${t('top.load', { load: agent.load ?? 0, capacity: agent.capacity ?? 0 })}
        </span>`}
      <span class="spacer"></span>
      <span id="connection" class="connection" data-state=${connected ? 'connected' : 'reconnecting'} role="status">
        <span class="dot" aria-hidden="true"></span>
        <span class="connection-text">${connectionText}</span>
      </span>
      <button id="shortcuts" type="button" class="icon-button ghost" aria-label=${t('top.shortcuts')} title=${t('top.shortcuts')}
        aria-keyshortcuts="Shift+?" onClick=${() => openDialog('help')}>
        ${icons.keyboard()}
      </button>
      <button id="logout" type="button" class="button ghost" aria-label=${t('top.logout')} onClick=${logout}>
        ${icons.logout()}<span class="label">${t('top.logout')}</span>
      </button>
    </header>
  `;
}
