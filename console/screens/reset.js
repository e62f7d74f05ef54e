// A password link's form (`/#/reset?token=…`: an invite or a reset an admin handed over): the
// new password twice; then the login screen.

import { html, useState } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { explain, leaveReset, resetPassword } from '../lib/actions.js';
import { MIN_PASSWORD } from '../lib/admin-model.js';

export function ResetPassword() {
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    if (password.length < MIN_PASSWORD) return setError(t('admin.error_password'));
    if (password !== repeat) return setError(t('account.password_mismatch'));
    setBusy(true);
    setError(null);
    try {
      await resetPassword(password);
    } catch (err) {
      setError(err && err.status === 401 ? t('reset.bad_link') : explain(err));
      setBusy(false);
    }
  };
  return html`
    <main class="login">
      <form id="reset-form" class="login-card" onSubmit=${submit} aria-labelledby="reset-title" novalidate>
        <h1 id="reset-title" class="brand">${t('app.title')}</h1>
        <p class="muted">${t('reset.intro')}</p>
        <div class="field">
          <label for="reset-password">${t('account.new_password')}</label>
          <input id="reset-password" type="password" autocomplete="new-password" required minlength=${MIN_PASSWORD} dir="ltr"
            aria-describedby="reset-rule" value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
          <p id="reset-rule" class="muted small">${t('account.password_rule', { count: MIN_PASSWORD })}</p>
        </div>
        <div class="field">
          <label for="reset-repeat">${t('account.repeat_password')}</label>
          <input id="reset-repeat" type="password" autocomplete="new-password" required dir="ltr"
            value=${repeat} onInput=${(e) => setRepeat(e.currentTarget.value)} />
        </div>
        <p id="reset-error" class="error" role="alert" hidden=${!error}>${error || ''}</p>
        <button id="reset-submit" type="submit" class="button primary wide" disabled=${busy} aria-busy=${busy ? 'true' : 'false'}>
          ${t('reset.submit')}
        </button>
        <p class="center"><button type="button" class="link-button" onClick=${() => leaveReset()}>${t('reset.to_login')}</button></p>
      </form>
    </main>
  `;
}
