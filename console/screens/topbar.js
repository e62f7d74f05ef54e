// The top bar: who I am, my presence, my load, the live connection, logout.

import { html } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { logout, setPresence } from '../lib/actions.js';
import { icons, presenceLabel } from './common.js';

const PRESENCES = ['online', 'away', 'offline'];

export function TopBar({ s }) {
  const user = (s.me && s.me.user) || (s.session && s.session.user) || {};
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
      <span class="who" dir="auto">${user.name || user.email || ''}</span>
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
      <button id="logout" type="button" class="button ghost" aria-label=${t('top.logout')} onClick=${logout}>
        ${icons.logout()}<span class="label">${t('top.logout')}</span>
      </button>
    </header>
  `;
}
