// The workspace: the top bar, then the view: the inbox (list | conversation | customer, one
// pane at a time on a phone), the supervisor's board, or administration. In the inbox, the
// keyboard: j/k move in the list, Enter opens, r goes to the reply box, Escape leaves it.

import { html, useEffect, useRef } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { store } from '../lib/store.js';
import { showPane } from '../lib/actions.js';
import { viewFor } from '../lib/model.js';
import { TopBar } from './topbar.js';
import { Board } from './board.js';
import { Admin } from './admin.js';
import { ConversationList } from './list.js';
import { Offers } from './offers.js';
import { ConversationView } from './conversation.js';
import { CustomerPanel } from './customer.js';
import { currentUser, icons, moveInList, visible } from './common.js';

function typingIn(el) {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}

function useShortcuts() {
  useEffect(() => {
    const onKey = (e) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typingIn(e.target)) return;
      if (document.querySelector('dialog[open]')) return;
      const s = store.get();
      if (viewFor(currentUser(s), s.view) !== 'inbox') return;
      if (e.key === 'j' || e.key === 'k') {
        e.preventDefault();
        moveInList(e.key === 'j' ? 1 : -1);
      } else if (e.key === 'r') {
        const composer = document.getElementById('composer');
        if (!composer) return;
        e.preventDefault();
        if (!visible(composer)) showPane('conversation');
        requestAnimationFrame(() => composer.focus());
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}

/** Another view shown: the focus goes to its heading (not on the first render). */
function useViewFocus(view) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const el = document.querySelector(view === 'inbox' ? '.pane-list .list-heading' : '.view-title');
    if (el) el.focus({ preventScroll: true });
  }, [view]);
}

/** On a phone, the pane that comes into view gets the focus (its heading). */
function usePaneFocus(pane, view) {
  useEffect(() => {
    if (view !== 'inbox' || !window.matchMedia('(max-width: 720px)').matches) return;
    const target = {
      list: '.pane-list .list-heading',
      conversation: '#conversation-title',
      customer: '#customer-title',
    }[pane];
    const el = target && document.querySelector(target);
    if (el) el.focus({ preventScroll: true });
  }, [pane, view]);
}

function Inbox({ s }) {
  return html`
    <div class="panes">
      <section class="pane pane-list" aria-labelledby="list-heading">
        <h2 id="list-heading" class="list-heading visually-hidden" tabindex="-1">${t('list.title')}</h2>
        <${Offers} s=${s} />
        <${ConversationList} s=${s} />
      </section>
      <main class="pane pane-conversation" aria-labelledby=${s.detail ? 'conversation-title' : undefined}>
        <${ConversationView} s=${s} />
      </main>
      ${s.detail && html`<${CustomerPanel} s=${s} />`}
    </div>
  `;
}

export function Workspace({ s }) {
  const view = viewFor(currentUser(s), s.view);
  useShortcuts();
  useViewFocus(view);
  usePaneFocus(s.pane, view);
  const notice = s.notice;
  return html`
    <div class="workspace" data-view=${view} data-pane=${s.pane} data-open=${s.detail ? 'true' : 'false'}>
      <${TopBar} s=${s} />
      ${notice && html`
        <div class=${'notice ' + notice.kind} role=${notice.kind === 'error' ? 'alert' : 'status'}>
          <span dir="auto">${notice.text}</span>
          <button type="button" class="icon-button" aria-label=${t('common.dismiss')}
            onClick=${() => store.set({ notice: null })}>${icons.close()}</button>
        </div>`}
      <div class="visually-hidden" aria-live="polite">${s.announcement ? s.announcement.text : ''}</div>
      ${view === 'inbox' && html`<${Inbox} s=${s} />`}
      ${view !== 'inbox' && html`<div class="view-offers"><${Offers} s=${s} /></div>`}
      ${view === 'board' && html`<${Board} s=${s} />`}
      ${view === 'admin' && html`<${Admin} s=${s} />`}
    </div>
  `;
}
