// The console's entry: renders the screen the store says, then boots (session, language).

import { html, render } from './lib/html.js';
import { useStore } from './lib/store.js';
import { boot } from './lib/actions.js';
import { t } from './lib/i18n.js';
import { Login } from './screens/login.js';
import { Workspace } from './screens/workspace.js';
import { ResetPassword } from './screens/reset.js';

function App() {
  const s = useStore();
  if (s.screen === 'login') return html`<${Login} s=${s} />`;
  if (s.screen === 'workspace') return html`<${Workspace} s=${s} />`;
  if (s.screen === 'reset') return html`<${ResetPassword} />`;
  return html`<div class="boot" role="status">${s.screen === 'boot' ? '' : t('app.title')}</div>`;
}

render(html`<${App} />`, document.getElementById('app'));
boot();
