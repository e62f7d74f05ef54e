// The customer panel's tabs: the customer's details, then one tab per panel app the
// conversation's team shows (GET /api/v1/conversations/{id}/panel-apps). Each app is a page of a
// business system in a sandboxed frame; once it has loaded (or says `switchboard.ready`), the
// console posts it `{type: "switchboard.context", token}` at its exact origin: a 5-minute token
// signed with the app's secret, asked for again a minute before it expires (the tabs are made
// anew for every conversation, so another conversation is another token).
//
// The sandbox: allow-scripts, allow-forms and allow-popups, and allow-same-origin. The app
// keeps its own origin, which is what lets the console post the token to that origin and no
// other (a frame without it has an opaque origin: only a post to "*" reaches it, and that would
// also reach whatever page the frame has navigated to) and lets the app call its own server.
// Scripts with their own origin could lift the sandbox only in a frame of the console's own
// origin: an app there is not shown (lib/panel-apps.js frameOrigin). Still no top navigation,
// no downloads, no modal dialogs. Frames load only from the registered apps' origins: the
// page's policy (frame-src) lists them as they were when the console was loaded.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { api } from '../lib/api.js';
import { contextMessage, frameOrigin, isReady, refreshDelay } from '../lib/panel-apps.js';
import { TabList } from './common.js';

export const SANDBOX = 'allow-scripts allow-forms allow-popups allow-same-origin';
/** After a failed request for tokens, the next one. */
const RETRY_MS = 30_000;

/** The tab last chosen (the customer's details, or an app's id): kept from one conversation to the next. */
let chosen = 'customer';

/** The panel apps of conversation `id`, with fresh tokens, asked for again before they expire. */
function usePanelApps(id) {
  const [apps, setApps] = useState(null);
  useEffect(() => {
    let timer = null;
    let gone = false;
    const load = async () => {
      try {
        const body = await api('GET', `/api/v1/conversations/${encodeURIComponent(id)}/panel-apps`);
        if (gone) return;
        const list = Array.isArray(body && body.panel_apps) ? body.panel_apps : [];
        setApps(list);
        if (list.length) timer = setTimeout(load, refreshDelay(list, Date.now()));
      } catch (e) {
        // Not allowed, not there (any more), or signed out: no apps. Otherwise, again later.
        if (gone) return;
        setApps((old) => old || []);
        if (![401, 403, 404].includes(e && e.status)) timer = setTimeout(load, RETRY_MS);
      }
    };
    load();
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [id]);
  return apps;
}

/** One app's frame: loaded when its tab is first shown, kept (hidden) while another is. */
function PanelAppFrame({ app, hidden }) {
  const ref = useRef(null);
  const token = useRef(app.token);
  const loaded = useRef(false);
  const [blocked, setBlocked] = useState(false);
  const origin = frameOrigin(app.url, location.origin);
  token.current = app.token;
  const post = () => {
    const w = ref.current && ref.current.contentWindow;
    if (w && origin && loaded.current) w.postMessage(contextMessage(token.current), origin);
  };
  // A fresh token goes to the app at once.
  useEffect(post, [app.token]);
  useEffect(() => {
    const onMessage = (e) => {
      if (isReady(e, ref.current && ref.current.contentWindow, origin)) {
        loaded.current = true;
        post();
      }
    };
    // An app registered after the console was loaded: its origin is not in the page's policy yet.
    const onViolation = (e) => {
      if (e.effectiveDirective === 'frame-src' && origin && String(e.blockedURI || '').startsWith(origin)) setBlocked(true);
    };
    window.addEventListener('message', onMessage);
    document.addEventListener('securitypolicyviolation', onViolation);
    return () => {
      window.removeEventListener('message', onMessage);
      document.removeEventListener('securitypolicyviolation', onViolation);
    };
  }, [origin]);
  const onLoad = () => {
    loaded.current = true;
    post();
  };
  return html`
    <div id=${'panel-app-' + app.id} class="panel-app" role="tabpanel" aria-labelledby=${'customer-tab-app-' + app.id}
      data-app=${app.id} hidden=${hidden}>
      ${!origin && html`<p class="error panel-app-note" role="alert">${t('panelapps.own_origin')}</p>`}
      ${origin && blocked && html`
        <div class="panel-app-note">
          <p class="muted">${t('panelapps.reload_needed')}</p>
          <button type="button" class="button small" onClick=${() => location.reload()}>${t('panelapps.reload')}</button>
        </div>`}
      ${origin && !blocked && html`
        <iframe ref=${ref} class="panel-app-frame" src=${app.url} title=${app.name} sandbox=${SANDBOX}
          referrerpolicy="no-referrer" data-app=${app.id} onLoad=${onLoad}></iframe>`}
    </div>
  `;
}

/**
 * The customer panel's body under its tabs: `children` (the customer's details) and the apps
 * of conversation `id`. Mount it keyed by the conversation.
 */
export function PanelAppTabs({ id, children }) {
  const loaded = usePanelApps(id);
  const apps = loaded || [];
  const [tab, setTab] = useState(chosen);
  const [opened, setOpened] = useState(() => new Set(chosen === 'customer' ? [] : [chosen]));
  const shown = apps.some((a) => a.id === tab) ? tab : 'customer';
  const select = (key) => {
    chosen = key;
    setTab(key);
    if (key !== 'customer') setOpened((old) => (old.has(key) ? old : new Set([...old, key])));
  };
  if (!apps.length) return html`<div class="panel-body" data-panel-apps=${loaded ? '0' : ''}>${children}</div>`;
  const tabs = [
    { key: 'customer', label: t('customer.details'), controls: 'customer-details' },
    ...apps.map((a) => ({ key: 'app-' + a.id, label: a.name, controls: 'panel-app-' + a.id })),
  ];
  return html`
    <${TabList} className="customer-tabs" label=${t('customer.tabs')} idPrefix="customer-tab-"
      tabs=${tabs} selected=${shown === 'customer' ? 'customer' : 'app-' + shown}
      onSelect=${(key) => select(key === 'customer' ? 'customer' : key.slice(4))} />
    <div id="customer-details" class="panel-body" data-panel-apps=${apps.length} role="tabpanel" aria-labelledby="customer-tab-customer" hidden=${shown !== 'customer'}>${children}</div>
    ${apps.filter((a) => opened.has(a.id) || a.id === shown).map((a) => html`<${PanelAppFrame} key=${a.id} app=${a} hidden=${a.id !== shown} />`)}
  `;
}
