// The workspace: the top bar, then the view: the inbox (list | conversation | customer, one
// pane at a time on a phone), the supervisor's board, reports, the contacts and segments, the
// campaigns, or administration. In the inbox, the keyboard (SHORTCUTS, listed by the help
// dialog on `?`): j/k (and the arrows in the list) move, Enter opens, r replies, n writes a
// note, e resolves, s snoozes, t transfers, / searches, Escape leaves the reply box.

import { html, useEffect, useRef } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { store } from '../lib/store.js';
import { openDialog, resolve, showPane, startTransfer } from '../lib/actions.js';
import { conversationPermissions, viewFor } from '../lib/model.js';
import { TopBar } from './topbar.js';
import { Board } from './board.js';
import { Reports } from './reports.js';
import { Admin } from './admin.js';
import { Contacts } from './contacts.js';
import { Campaigns } from './campaigns.js';
import { ConversationList } from './list.js';
import { Offers } from './offers.js';
import { ConversationView } from './conversation.js';
import { CustomerPanel } from './customer.js';
import { composerControl, currentUser, icons, Modal, moveInList, visible } from './common.js';

/** The keys, in the order the help dialog lists them. */
export const SHORTCUTS = [
  { keys: ['j', '↓'], what: K('keys.next') },
  { keys: ['k', '↑'], what: K('keys.previous') },
  { keys: ['Enter'], what: K('keys.open') },
  { keys: ['r'], what: K('keys.reply') },
  { keys: ['n'], what: K('keys.note') },
  { keys: ['e'], what: K('keys.resolve') },
  { keys: ['s'], what: K('keys.snooze') },
  { keys: ['t'], what: K('keys.transfer') },
  { keys: ['/'], what: K('keys.search') },
  { keys: ['Esc'], what: K('keys.escape') },
  { keys: ['?'], what: K('keys.help') },
];

function HelpDialog({ onClose }) {
  return html`
    <${Modal} id="shortcuts-dialog" title=${t('keys.title')} onClose=${onClose}>
      <p class="muted small">${t('keys.intro')}</p>
      <dl class="shortcuts">
        ${SHORTCUTS.map((x) => html`
          <div key=${x.what} class="shortcut">
            <dt>${x.keys.map((k, i) => html`${i > 0 && ' '}<kbd key=${k} dir="ltr">${k}</kbd>`)}</dt>
            <dd>${t(x.what) /* i18n-dynamic */}</dd>
          </div>`)}
      </dl>
    <//>
  `;
}

/** The composer, shown (on a phone, its pane) and focused, in reply or note mode. */
function compose(note) {
  const composer = document.getElementById('composer');
  if (!composer) return false;
  if (!visible(composer)) showPane('conversation');
  requestAnimationFrame(() => {
    if (composerControl.current) composerControl.current(note);
    composer.focus();
  });
  return true;
}

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
      if (e.key === '?') {
        e.preventDefault();
        openDialog('help');
        return;
      }
      if (viewFor(currentUser(s), s.view) !== 'inbox') return;
      const c = s.detail && (s.detail.conversation || s.conversations[s.detail.id]);
      const may = conversationPermissions(currentUser(s), c);
      const act = (allowed, fn) => {
        if (!allowed) return;
        e.preventDefault();
        fn();
      };
      switch (e.key) {
        case 'j':
        case 'k':
          e.preventDefault();
          moveInList(e.key === 'j' ? 1 : -1);
          break;
        case 'r':
          if (compose(false)) e.preventDefault();
          break;
        case 'n':
          if (may.note && compose(true)) e.preventDefault();
          break;
        case 'e':
          act(may.resolve, () => resolve(c.id));
          break;
        case 's':
          act(may.snooze, () => openDialog('snooze'));
          break;
        case 't':
          act(may.transfer, startTransfer);
          break;
        case '/': {
          const search = document.getElementById('search');
          if (!search) break;
          e.preventDefault();
          if (!visible(search)) showPane('list');
          requestAnimationFrame(() => {
            search.focus();
            search.select();
          });
          break;
        }
        default:
          break;
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
      ${view === 'reports' && html`<${Reports} s=${s} />`}
      ${view === 'contacts' && html`<${Contacts} s=${s} />`}
      ${view === 'campaigns' && html`<${Campaigns} s=${s} />`}
      ${view === 'admin' && html`<${Admin} s=${s} />`}
      ${s.dialog === 'help' && html`<${HelpDialog} onClose=${() => openDialog(null)} />`}
    </div>
  `;
}
