// The login screen: email, password, the UI's language.

import { html, useState } from '../lib/html.js';
import { t, LOCALES, languageName } from '../lib/i18n.js';
import { chooseLoginLanguage, login } from '../lib/actions.js';

function loginError(e) {
  switch (e && e.status) {
    case 401:
      return t('login.wrong');
    case 429:
      return t('login.throttled', { seconds: e.retryAfter ?? 60 });
    case 0:
      return t('error.network');
    case 503:
      return t('error.unavailable');
    default:
      return t('login.failed', { message: (e && e.message) || '' });
  }
}

export function Login({ s }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [picked, setPicked] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await login(email.trim(), password, picked);
    } catch (err) {
      setError(loginError(err));
      setBusy(false);
    }
  };

  return html`
    <main class="login">
      <form class="login-card" onSubmit=${submit} aria-labelledby="login-title">
        <h1 id="login-title" class="brand">${t('app.title')}</h1>
        <p class="muted">${t('login.intro')}</p>
        ${s.loginNotice && html`<p class="notice info" role="status">${t(s.loginNotice) /* i18n-dynamic */}</p>`}
        <div class="field">
          <label for="login-email">${t('login.email')}</label>
          <input id="login-email" type="email" name="email" autocomplete="username" required
            dir="ltr" value=${email} onInput=${(e) => setEmail(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="login-password">${t('login.password')}</label>
          <input id="login-password" type="password" name="password" autocomplete="current-password" required
            dir="ltr" value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="login-language">${t('login.language')}</label>
          <select id="login-language" value=${s.locale} onChange=${(e) => {
            setPicked(e.currentTarget.value);
            chooseLoginLanguage(e.currentTarget.value);
          }}>
            ${LOCALES.map((code) => html`<option key=${code} value=${code} lang=${code}>${languageName(code)}</option>`)}
          </select>
        </div>
        <p id="login-error" class="error" role="alert" hidden=${!error}>${error || ''}</p>
        <button id="login-submit" type="submit" class="button primary wide" disabled=${busy} aria-busy=${busy ? 'true' : 'false'}>
          ${busy ? t('login.signing_in') : t('login.submit')}
        </button>
      </form>
    </main>
  `;
}
