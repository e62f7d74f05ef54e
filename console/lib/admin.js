// What the board, the administration screens and the account dialogs ask the server for.
// Lists land in the store (`s.admin`); changes resolve to the server's answer or reject with
// ApiError, for the form that asked to show why (explain()).

import { api, query } from './api.js';
import { store } from './store.js';
import { explain, notify, refreshTeams } from './actions.js';
import { appendEntries } from './admin-model.js';
import { setAgentPresence } from './model.js';
import { t } from './i18n.js';

const enc = encodeURIComponent;

function setAdmin(key, patch) {
  store.set((s) => ({ ...s, admin: { ...s.admin, [key]: { ...s.admin[key], ...patch } } }));
}

// --- the board -------------------------------------------------------------------------------

/** A supervisor (of one of the agent's teams) or an admin sets an agent's presence. */
export async function forcePresence(agent, presence) {
  const before = store.get().teams;
  store.set((s) => setAgentPresence(s, agent, presence));
  try {
    await api('PUT', `/api/v1/agents/${enc(agent)}/presence`, { presence });
    refreshTeams();
  } catch (e) {
    store.set({ teams: before });
    notify(explain(e));
  }
}

// --- lists -----------------------------------------------------------------------------------

/** Requests per list: only the answer to the latest one lands (another filter may have been asked since). */
const latest = {};

function ask(key) {
  latest[key] = (latest[key] || 0) + 1;
  const n = latest[key];
  return () => latest[key] === n;
}

/** Loads one of the lists (`users`, `teams`, `tokens`) into `s.admin[key]` (with `more` of the answer). */
async function loadList(key, path, field, more = () => ({})) {
  const current = ask(key);
  setAdmin(key, { loading: true, error: null });
  try {
    const body = await api('GET', path);
    if (current()) setAdmin(key, { items: body && Array.isArray(body[field]) ? body[field] : [], loading: false, ...more(body || {}) });
  } catch (e) {
    if (current()) setAdmin(key, { loading: false, error: explain(e) });
  }
}

export const loadUsers = () => loadList('users', '/api/v1/admin/users', 'users');
/** The teams, and the priorities the routing sets (`slaPriorities`, for their SLA policies). */
export const loadAdminTeams = () => loadList('teams', '/api/v1/admin/teams', 'teams',
  (body) => ({ slaPriorities: Array.isArray(body.sla_priorities) ? body.sla_priorities : [] }));
export const loadTokens = (user) => loadList('tokens', '/api/v1/admin/tokens' + query({ user: user || null }), 'tokens');

/** Puts one changed item into its list (or drops it: `item` null), by id. */
function putItem(key, id, item) {
  store.set((s) => {
    const list = s.admin[key];
    if (!list.items) return s;
    const items = list.items.filter((x) => x.id !== id);
    if (item) {
      const at = list.items.findIndex((x) => x.id === id);
      items.splice(at < 0 ? items.length : at, 0, item);
    }
    return { ...s, admin: { ...s.admin, [key]: { ...list, items } } };
  });
}

// --- users -----------------------------------------------------------------------------------

/** Creates a user: `{user, invite}` (the invite link when no password was set). */
export async function createUser(body) {
  const answer = await api('POST', '/api/v1/admin/users', body);
  if (answer && answer.user) putItem('users', answer.user.id, answer.user);
  loadAdminTeams();
  return answer || {};
}

export async function updateUser(id, body) {
  const answer = await api('PATCH', `/api/v1/admin/users/${enc(id)}`, body);
  if (answer && answer.user) putItem('users', id, answer.user);
  if (body.teams || body.supervises) loadAdminTeams();
  refreshTeams();
  return answer || {};
}

export async function deactivateUser(id) {
  await api('DELETE', `/api/v1/admin/users/${enc(id)}`);
  loadUsers();
  refreshTeams();
}

/** Ends every session of the user: how many ended. */
export async function forceLogout(id) {
  const answer = await api('POST', `/api/v1/admin/users/${enc(id)}/logout`);
  return answer && typeof answer.ended === 'number' ? answer.ended : 0;
}

/** A one-time link for the user to set a password: `{token, url, expires_at}`. */
export async function resetLink(id) {
  const answer = await api('POST', `/api/v1/admin/users/${enc(id)}/reset`);
  return (answer && answer.reset) || {};
}

// --- teams -----------------------------------------------------------------------------------

export async function createTeam(body) {
  const answer = await api('POST', '/api/v1/admin/teams', body);
  if (answer && answer.team) putItem('teams', answer.team.id, answer.team);
  loadUsers();
  refreshTeams();
  return answer || {};
}

export async function updateTeam(id, body) {
  const answer = await api('PATCH', `/api/v1/admin/teams/${enc(id)}`, body);
  if (answer && answer.team) putItem('teams', id, answer.team);
  if (body.members || body.supervisors) loadUsers();
  refreshTeams();
  return answer || {};
}

export async function deleteTeam(id) {
  await api('DELETE', `/api/v1/admin/teams/${enc(id)}`);
  putItem('teams', id, null);
  loadUsers();
  refreshTeams();
}

// --- tokens ----------------------------------------------------------------------------------

export async function revokeToken(id) {
  await api('DELETE', `/api/v1/admin/tokens/${enc(id)}`);
  store.set((s) => {
    const list = s.admin.tokens;
    if (!list.items) return s;
    const items = list.items.map((x) => (x.id === id && !x.revoked_at ? { ...x, revoked_at: Date.now() } : x));
    return { ...s, admin: { ...s.admin, tokens: { ...list, items } } };
  });
}

// --- audit -----------------------------------------------------------------------------------

/** The audit log with these parameters (see auditParams); `older`: the page after those shown. */
export async function loadAudit(params, older = false) {
  const current = ask('audit');
  setAdmin('audit', { loading: true, error: null });
  try {
    const body = await api('GET', '/api/v1/admin/audit' + query(params));
    if (!current()) return;
    const page = body && Array.isArray(body.entries) ? body.entries : [];
    setAdmin('audit', {
      entries: older ? appendEntries(store.get().admin.audit.entries, page) : appendEntries([], page),
      next: body && body.next != null ? body.next : null,
      loading: false,
      loaded: true,
    });
  } catch (e) {
    if (current()) setAdmin('audit', { loading: false, error: explain(e), loaded: true });
  }
}

// --- reload ----------------------------------------------------------------------------------

/** Reloads the bot flows and routing rules: the report; rejects with ApiError (422: refused, with the reason). */
export async function reloadConfiguration() {
  const answer = await api('POST', '/api/v1/admin/reload');
  return (answer && answer.reload) || {};
}

// --- my account ------------------------------------------------------------------------------

export async function myTokens() {
  const body = await api('GET', '/api/v1/me/tokens');
  return body && Array.isArray(body.tokens) ? body.tokens : [];
}

/** A new personal API token: the record, with its secret (`token`) shown this once. */
export async function createMyToken(name) {
  const body = await api('POST', '/api/v1/me/tokens', { name });
  return (body && body.token) || {};
}

export async function revokeMyToken(id) {
  await api('DELETE', `/api/v1/me/tokens/${enc(id)}`);
}

/** Changes my password; my other sessions end. */
export async function changePassword(current, next) {
  await api('POST', '/api/v1/auth/password', { current_password: current, new_password: next });
  notify(t('account.password_changed'), 'info');
}
