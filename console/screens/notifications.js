// My notifications (from the user menu): sound, desktop notifications, which events, and Web
// Push on this browser. Settings are kept on the server, so every device follows them; push is
// per browser (each one subscribes for itself).

import { html, useEffect, useState } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { explain } from '../lib/actions.js';
import {
  askDesktopPermission,
  chime,
  desktopPermission,
  disablePush,
  enablePush,
  loadNotificationSettings,
  notificationSettings,
  pushEnabled,
  pushSupported,
  saveNotificationSettings,
} from '../lib/notify.js';
import { Modal } from './common.js';

function Check({ id, label, checked, disabled, onChange }) {
  return html`
    <label class="check check-wide">
      <input id=${id} type="checkbox" checked=${checked} disabled=${disabled} onChange=${(e) => onChange(e.currentTarget.checked)} />
      <span>${label}</span>
    </label>
  `;
}

export function NotificationsDialog({ onClose }) {
  const [settings, setSettings] = useState(notificationSettings());
  const [push, setPush] = useState(false);
  const [permission, setPermission] = useState(desktopPermission());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    loadNotificationSettings().then(setSettings);
    pushEnabled().then(setPush);
  }, []);
  const save = async (change) => {
    setBusy(true);
    setError(null);
    try {
      setSettings(await saveNotificationSettings(change));
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };
  const setDesktop = async (on) => {
    // The browser asks from this click.
    if (on && desktopPermission() === 'default') setPermission(await askDesktopPermission());
    save({ desktop: on });
  };
  const setPushOn = async (on) => {
    setBusy(true);
    setError(null);
    try {
      if (on) await enablePush();
      else await disablePush();
      setPush(on);
    } catch (e) {
      setError(e && e.message === 'denied' ? t('notify.denied') : e && e.message === 'unsupported' ? t('notify.unsupported') : explain(e));
    } finally {
      setPermission(desktopPermission());
      setBusy(false);
    }
  };
  const events = settings.events || {};
  return html`
    <${Modal} id="notifications-dialog" title=${t('notify.title')} onClose=${onClose}>
      <p class="muted">${t('notify.intro')}</p>
      <fieldset class="checks">
        <legend>${t('notify.how')}</legend>
        <div class="notify-row">
          <${Check} id="notify-sound" label=${t('notify.sound')} checked=${settings.sound} disabled=${busy}
            onChange=${(on) => save({ sound: on })} />
          <button id="notify-test" type="button" class="button small" onClick=${() => chime('offer')}>${t('notify.test_sound')}</button>
        </div>
        <${Check} id="notify-desktop" label=${t('notify.desktop')} checked=${settings.desktop} disabled=${busy}
          onChange=${setDesktop} />
        ${permission === 'denied' && html`<p class="muted small">${t('notify.denied')}</p>`}
        <${Check} id="notify-push" label=${t('notify.push')} checked=${push} disabled=${busy || !pushSupported()}
          onChange=${setPushOn} />
        ${!pushSupported() && html`<p class="muted small">${t('notify.unsupported')}</p>`}
      </fieldset>
      <fieldset class="checks notify-when">
        <legend>${t('notify.when')}</legend>
        <${Check} id="notify-offer" label=${t('notify.event_offer')} checked=${events.offer !== false} disabled=${busy}
          onChange=${(on) => save({ events: { offer: on } })} />
        <${Check} id="notify-assignment" label=${t('notify.event_assignment')} checked=${events.assignment !== false}
          disabled=${busy} onChange=${(on) => save({ events: { assignment: on } })} />
        <${Check} id="notify-message" label=${t('notify.event_message')} checked=${events.message !== false}
          disabled=${busy} onChange=${(on) => save({ events: { message: on } })} />
      </fieldset>
      ${error && html`<p id="notify-error" class="error" role="alert" dir="auto">${error}</p>`}
    <//>
  `;
}
