// The user menu in the top bar (everyone's): my notifications, my API tokens (a new one shown
// once), change my password, log out everywhere.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { dateTime } from '../lib/format.js';
import { explain, logoutEverywhere } from '../lib/actions.js';
import { changePassword, createMyToken, myTokens, revokeMyToken } from '../lib/admin.js';
import { MIN_PASSWORD } from '../lib/admin-model.js';
import { ConfirmDialog, CopyField, icons, Modal } from './common.js';
import { NotificationsDialog } from './notifications.js';

const ROLE_KEYS = { agent: K('role.agent'), supervisor: K('role.supervisor'), admin: K('role.admin') };

export function roleLabel(role) {
  return ROLE_KEYS[role] ? t(ROLE_KEYS[role]) /* i18n-dynamic */ : String(role || '');
}

/** A token's state in words: revoked (when), else last used (when), else never used. */
export function tokenState(token) {
  if (token.revoked_at) return t('tokens.revoked_at', { when: dateTime(token.revoked_at) });
  if (token.last_used_at) return t('tokens.last_used', { when: dateTime(token.last_used_at) });
  return t('tokens.never_used');
}

function MyTokensDialog({ onClose }) {
  const [tokens, setTokens] = useState(null);
  const [error, setError] = useState(null);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState(null);
  const [revoking, setRevoking] = useState(null);
  const load = async () => {
    try {
      const all = await myTokens();
      setTokens(all.sort((a, b) => Number(!!a.revoked_at) - Number(!!b.revoked_at) || (b.created_at || 0) - (a.created_at || 0)));
    } catch (e) {
      setError(explain(e));
      setTokens([]);
    }
  };
  useEffect(() => {
    load();
  }, []);
  const create = async (e) => {
    e.preventDefault();
    if (busy || !name.trim()) return;
    setBusy(true);
    setError(null);
    try {
      setCreated(await createMyToken(name.trim()));
      setName('');
      load();
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (token) => {
    try {
      await revokeMyToken(token.id);
      load();
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  return html`
    <${Modal} id="tokens-dialog" title=${t('tokens.title')} onClose=${onClose}>
      <p class="muted">${t('tokens.intro')}</p>
      ${created && created.token && html`
        <${CopyField} id="new-token" label=${t('tokens.new_secret', { name: created.name || '' })} value=${created.token}
          hint=${t('tokens.shown_once')} />`}
      <form id="token-create" class="inline-form" onSubmit=${create}>
        <div class="field">
          <label for="token-name">${t('tokens.name')}</label>
          <input id="token-name" type="text" maxlength="100" required dir="auto" value=${name}
            placeholder=${t('tokens.name_placeholder')} onInput=${(e) => setName(e.currentTarget.value)} />
        </div>
        <button id="token-create-submit" type="submit" class="button primary" disabled=${busy || !name.trim()}>
          ${icons.plus()}<span>${t('tokens.create')}</span>
        </button>
      </form>
      ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
      ${tokens === null
        ? html`<p class="muted" role="status">${t('list.loading')}</p>`
        : tokens.length === 0
          ? html`<p class="muted">${t('tokens.none')}</p>`
          : html`
            <ul class="admin-list compact">
              ${tokens.map((x) => html`
                <li key=${x.id} class="my-token" data-id=${x.id} data-revoked=${x.revoked_at ? 'true' : 'false'}>
                  <div class="item-main">
                    <strong dir="auto">${x.name}</strong>
                    <span class="muted small">${t('tokens.created', { when: dateTime(x.created_at) })} · ${tokenState(x)}</span>
                  </div>
                  ${!x.revoked_at && html`
                    <button type="button" class="button small my-token-revoke" onClick=${() => setRevoking(x)}
                      aria-label=${t('tokens.revoke_named', { name: x.name })}>${t('tokens.revoke')}</button>`}
                </li>`)}
            </ul>`}
      ${revoking && html`
        <${ConfirmDialog} title=${t('tokens.revoke_title')} message=${t('tokens.revoke_confirm', { name: revoking.name })}
          confirmLabel=${t('tokens.revoke')} danger onConfirm=${() => revoke(revoking)} onClose=${() => setRevoking(null)} />`}
    <//>
  `;
}

function PasswordDialog({ onClose }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    if (!current) return setError(t('account.password_wrong'));
    if (next.length < MIN_PASSWORD) return setError(t('admin.error_password'));
    if (next !== repeat) return setError(t('account.password_mismatch'));
    setBusy(true);
    setError(null);
    try {
      await changePassword(current, next);
      onClose();
    } catch (err) {
      setError(err && err.status === 403 ? t('account.password_wrong') : explain(err));
      setBusy(false);
    }
  };
  return html`
    <${Modal} id="password-dialog" title=${t('account.change_password')} onClose=${onClose}>
      <form id="password-form" onSubmit=${submit} novalidate>
        <div class="field">
          <label for="password-current">${t('account.current_password')}</label>
          <input id="password-current" type="password" autocomplete="current-password" required dir="ltr"
            value=${current} onInput=${(e) => setCurrent(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="password-new">${t('account.new_password')}</label>
          <input id="password-new" type="password" autocomplete="new-password" required minlength=${MIN_PASSWORD} dir="ltr"
            aria-describedby="password-rule" value=${next} onInput=${(e) => setNext(e.currentTarget.value)} />
          <p id="password-rule" class="muted small">${t('account.password_rule', { count: MIN_PASSWORD })}</p>
        </div>
        <div class="field">
          <label for="password-repeat">${t('account.repeat_password')}</label>
          <input id="password-repeat" type="password" autocomplete="new-password" required dir="ltr"
            value=${repeat} onInput=${(e) => setRepeat(e.currentTarget.value)} />
        </div>
        <p class="muted small">${t('account.password_sessions')}</p>
        ${error && html`<p id="password-error" class="error" role="alert" dir="auto">${error}</p>`}
        <button id="password-submit" type="submit" class="button primary wide" disabled=${busy}>${t('account.change_password')}</button>
      </form>
    <//>
  `;
}

/** The user's name as a menu button: API tokens, change password, log out everywhere. */
export function UserMenu({ user }) {
  const [open, setOpen] = useState(false);
  const [dialog, setDialog] = useState(null);
  const ref = useRef(null);
  const button = () => ref.current && ref.current.querySelector('#user-menu');
  useEffect(() => {
    if (!open) return undefined;
    const first = ref.current && ref.current.querySelector('.menu button');
    if (first) first.focus();
    const away = (e) => {
      if (ref.current && !ref.current.contains(e.target)) setOpen(false);
    };
    document.addEventListener('pointerdown', away);
    return () => document.removeEventListener('pointerdown', away);
  }, [open]);
  const onKeyDown = (e) => {
    if (!open) return;
    const items = [...ref.current.querySelectorAll('.menu button')];
    const i = items.indexOf(document.activeElement);
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      setOpen(false);
      const b = button();
      if (b) b.focus();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      items[(i + step + items.length) % items.length].focus();
    }
  };
  const onFocusOut = (e) => {
    if (open && ref.current && e.relatedTarget && !ref.current.contains(e.relatedTarget)) setOpen(false);
  };
  const pick = (which) => {
    // The focus goes back to the menu button first: the dialog returns it there when it closes.
    const b = button();
    if (b) b.focus();
    setOpen(false);
    setDialog(which);
  };
  const close = () => setDialog(null);
  const endAll = async () => {
    try {
      await logoutEverywhere();
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  return html`
    <div class="user-menu" ref=${ref} onKeyDown=${onKeyDown} onFocusOut=${onFocusOut}>
      <button id="user-menu" type="button" class="who" aria-expanded=${open ? 'true' : 'false'} aria-controls="user-menu-list"
        aria-label=${t('account.menu', { name: user.name || user.email || '' })} onClick=${() => setOpen(!open)}>
        ${icons.person()}<span class="who-name" dir="auto">${user.name || user.email || ''}</span>${icons.caret()}
      </button>
      <div id="user-menu-list" class="menu" hidden=${!open}>
        <p class="menu-who">
          <bdi class="small" dir="ltr">${user.email || ''}</bdi>
          ${user.role && html`<span class="role-badge" data-role=${user.role}>${roleLabel(user.role)}</span>`}
        </p>
        <ul>
          <li><button id="my-notifications" type="button" onClick=${() => pick('notifications')}>${t('notify.title')}</button></li>
          <li><button id="my-tokens" type="button" onClick=${() => pick('tokens')}>${t('tokens.title')}</button></li>
          <li><button id="change-password" type="button" onClick=${() => pick('password')}>${t('account.change_password')}</button></li>
          <li><button id="logout-everywhere" type="button" onClick=${() => pick('everywhere')}>${t('account.logout_everywhere')}</button></li>
        </ul>
      </div>
      ${dialog === 'notifications' && html`<${NotificationsDialog} onClose=${close} />`}
      ${dialog === 'tokens' && html`<${MyTokensDialog} onClose=${close} />`}
      ${dialog === 'password' && html`<${PasswordDialog} onClose=${close} />`}
      ${dialog === 'everywhere' && html`
        <${ConfirmDialog} title=${t('account.logout_everywhere')} message=${t('account.logout_everywhere_confirm')}
          confirmLabel=${t('account.logout_everywhere')} danger onConfirm=${endAll} onClose=${close} />`}
    </div>
  `;
}
