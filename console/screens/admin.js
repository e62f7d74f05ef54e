// Administration (admins only): tabs for users, teams, contact fields, API tokens, event
// webhooks, API keys, panel apps, WhatsApp templates, the audit log and the configuration reload.
// This module: the tabs, users and teams; admin-fields.js, admin-log.js, admin-webhooks.js,
// admin-keys.js, admin-panel-apps.js and admin-templates.js: the rest.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t, K, LOCALES, languageLabel, languageName } from '../lib/i18n.js';
import { dateTime } from '../lib/format.js';
import { store } from '../lib/store.js';
import { explain, notify } from '../lib/actions.js';
import {
  createTeam, createUser, deactivateUser, deleteTeam, forceLogout, loadAdminTeams, loadUsers,
  resetLink, updateTeam, updateUser,
} from '../lib/admin.js';
import {
  isLocked, MAX_CAPACITY, MIN_PASSWORD, ROLES, SLA_CLOCKS, SLA_UNITS, STRATEGIES, teamBody, teamForm, userBody, userForm,
} from '../lib/admin-model.js';
import { ConfirmDialog, CopyField, icons, Modal, TabList } from './common.js';
import { roleLabel } from './account.js';
import { AuditPanel, ReloadPanel, TokensPanel } from './admin-log.js';
import { WebhooksPanel } from './admin-webhooks.js';
import { ApiKeysPanel } from './admin-keys.js';
import { PanelAppsPanel } from './admin-panel-apps.js';
import { ContactFieldsPanel } from './admin-fields.js';
import { TemplatesPanel } from './admin-templates.js';

const TABS = [
  { key: 'users', label: K('admin.users') },
  { key: 'teams', label: K('admin.teams') },
  { key: 'fields', label: K('admin.contact_fields') },
  { key: 'tokens', label: K('admin.tokens') },
  { key: 'webhooks', label: K('admin.webhooks') },
  { key: 'keys', label: K('admin.api_keys') },
  { key: 'panel-apps', label: K('admin.panel_apps') },
  { key: 'templates', label: K('admin.templates') },
  { key: 'audit', label: K('admin.audit') },
  { key: 'reload', label: K('admin.reload') },
];

const STRATEGY_KEYS = { round_robin: K('strategy.round_robin'), least_busy: K('strategy.least_busy') };

function strategyLabel(s) {
  return STRATEGY_KEYS[s] ? t(STRATEGY_KEYS[s]) /* i18n-dynamic */ : String(s || '');
}

// --- shared form pieces ----------------------------------------------------------------------

/** Names for ids, from a loaded list (`[{id, name}]`). */
function namesOf(list, ids) {
  const items = (list && list.items) || [];
  return (ids || []).map((id) => {
    const x = items.find((i) => i.id === id);
    return (x && x.name) || id;
  });
}

/** A labelled list of names, or a dash. */
function Names({ names }) {
  return names.length ? html`<span dir="auto">${names.join(', ')}</span>` : t('common.none');
}

/** Checkboxes for a set of ids (a user's teams, a team's members). */
function Checks({ id, legend, options, selected, onChange, empty }) {
  const set = new Set(selected);
  const all = [...options];
  for (const v of selected) if (!all.some((o) => o.value === v)) all.push({ value: v, label: v });
  const toggle = (value, on) => onChange(on ? [...selected, value] : selected.filter((x) => x !== value));
  return html`
    <fieldset id=${id} class="checks">
      <legend>${legend}</legend>
      ${all.length
        ? html`<div class="checks-list">
            ${all.map((o) => html`
              <label key=${o.value} class="check">
                <input type="checkbox" name=${id} value=${o.value} checked=${set.has(o.value)}
                  onChange=${(e) => toggle(o.value, e.currentTarget.checked)} />
                <span dir="auto">${o.label}</span>
              </label>`)}
          </div>`
        : html`<p class="muted small">${empty}</p>`}
    </fieldset>
  `;
}

let zones = null;
/** The time zones the browser knows, for a datalist. */
export function timeZones() {
  if (!zones) {
    try {
      zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
    } catch {
      zones = [];
    }
    if (!zones.includes('UTC')) zones = ['UTC', ...zones];
  }
  return zones;
}

/** Submitting a form: validation (a key from lib/admin-model.js), the request, and why it failed. */
function useSubmit(formRef) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (checked, work) => {
    if (busy) return;
    if (checked.error) {
      setError(t(checked.error)); // i18n-dynamic
      const el = formRef.current && formRef.current.querySelector(`[data-field="${checked.field}"]`);
      if (el) el.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await work(checked.body);
    } catch (e) {
      setError(explain(e));
      setBusy(false);
    }
  };
  return { busy, error, run };
}

function Tabs({ tab }) {
  return html`<${TabList} className="admin-tabs" label=${t('admin.sections')} idPrefix="admin-" controls="admin-panel"
    tabs=${TABS.map((x) => ({ key: x.key, label: t(x.label) /* i18n-dynamic */ }))} selected=${tab}
    onSelect=${(key) => store.set({ adminTab: key })} />`;
}

function PanelHead({ title, count, children }) {
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${title}${typeof count === 'number' && html` <span class="muted">(${count})</span>`}</h3>
      <span class="spacer"></span>
      ${children}
    </div>
  `;
}

/** A list's loading, error (with retry) and empty states. */
function ListState({ list, retry, empty }) {
  if (list.error) {
    return html`<div class="error" role="alert"><span dir="auto">${list.error}</span>
      <button type="button" class="button small" onClick=${retry}>${t('common.retry')}</button></div>`;
  }
  if (!list.items) return html`<p class="muted" role="status">${t('list.loading')}</p>`;
  if (!list.items.length) return html`<p class="muted">${empty}</p>`;
  return null;
}

// --- users -----------------------------------------------------------------------------------

function UserDialog({ user, teams, onClose }) {
  const editing = !!user;
  const [form, setForm] = useState(() => userForm(user));
  const [invite, setInvite] = useState(null);
  const ref = useRef(null);
  const { busy, error, run } = useSubmit(ref);
  const set = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value });
  const teamOptions = ((teams && teams.items) || []).map((x) => ({ value: x.id, label: x.name || x.id }));
  const languages = LOCALES.includes(form.language) || !form.language ? LOCALES : [...LOCALES, form.language];
  const submit = (e) => {
    e.preventDefault();
    const checked = userBody(form, user);
    if (editing && !checked.error && !checked.body) {
      onClose();
      return;
    }
    run(checked, async (body) => {
      if (editing) {
        await updateUser(user.id, body);
        notify(t('admin.saved', { name: form.name.trim() }), 'info');
        onClose();
        return;
      }
      const answer = await createUser(body);
      const link = answer.invite && answer.invite.url;
      if (link) setInvite(answer.invite);
      else {
        notify(t('admin.user_created', { name: form.name.trim() }), 'info');
        onClose();
      }
    });
  };
  const title = editing ? t('admin.edit_user', { name: user.name || user.id }) : t('admin.new_user');
  if (invite) {
    return html`
      <${Modal} id="user-dialog" title=${t('admin.user_created', { name: form.name.trim() })} onClose=${onClose}>
        <p>${t('admin.invite_intro')}</p>
        <${CopyField} id="invite-link" label=${t('admin.invite_link')} value=${invite.url}
          hint=${invite.expires_at ? t('admin.link_expires', { when: dateTime(invite.expires_at) }) : null} />
        <button type="button" class="button primary wide" onClick=${onClose}>${t('common.done')}</button>
      <//>
    `;
  }
  return html`
    <${Modal} id="user-dialog" title=${title} onClose=${onClose}>
      <form id=${editing ? 'user-edit' : 'user-create'} ref=${ref} class="admin-form" onSubmit=${submit} novalidate>
        <div class="form-grid">
          ${!editing && html`
            <div class="field">
              <label for="user-id">${t('admin.id_optional')}</label>
              <input id="user-id" data-field="id" type="text" dir="ltr" autocomplete="off" spellcheck="false" maxlength="64"
                aria-describedby="user-id-hint" value=${form.id} onInput=${set('id')} />
              <p id="user-id-hint" class="muted small">${t('admin.id_hint')}</p>
            </div>`}
          <div class="field">
            <label for="user-name">${t('admin.name')}</label>
            <input id="user-name" data-field="name" type="text" dir="auto" required maxlength="200" autocomplete="off"
              value=${form.name} onInput=${set('name')} />
          </div>
          <div class="field">
            <label for="user-email">${t('login.email')}</label>
            <input id="user-email" data-field="email" type="email" dir="ltr" required autocomplete="off"
              value=${form.email} onInput=${set('email')} />
          </div>
          <div class="field">
            <label for="user-role">${t('admin.role')}</label>
            <select id="user-role" data-field="role" value=${form.role} onChange=${set('role')}>
              ${ROLES.map((r) => html`<option key=${r} value=${r}>${roleLabel(r)}</option>`)}
            </select>
          </div>
          <div class="field">
            <label for="user-language">${t('login.language')}</label>
            <select id="user-language" data-field="language" value=${form.language} onChange=${set('language')}>
              ${languages.map((code) => html`<option key=${code} value=${code} lang=${code}>${languageName(code)}</option>`)}
            </select>
          </div>
          <div class="field">
            <label for="user-time-zone">${t('admin.time_zone')}</label>
            <input id="user-time-zone" data-field="time_zone" type="text" dir="ltr" list="time-zones" autocomplete="off"
              spellcheck="false" value=${form.time_zone} onInput=${set('time_zone')} />
            <datalist id="time-zones">${timeZones().map((z) => html`<option key=${z} value=${z} />`)}</datalist>
          </div>
          <div class="field">
            <label for="user-capacity">${t('admin.capacity')}</label>
            <input id="user-capacity" data-field="capacity" type="number" inputmode="numeric" min="0" max=${MAX_CAPACITY} step="1"
              dir="ltr" aria-describedby="user-capacity-hint" value=${form.capacity} onInput=${set('capacity')} />
            <p id="user-capacity-hint" class="muted small">${t('admin.capacity_hint')}</p>
          </div>
          <div class="field">
            <label for="user-password">${editing ? t('admin.new_password_optional') : t('admin.password_optional')}</label>
            <input id="user-password" data-field="password" type="password" dir="ltr" autocomplete="new-password" minlength=${MIN_PASSWORD}
              aria-describedby="user-password-hint" value=${form.password} onInput=${set('password')} />
            <p id="user-password-hint" class="muted small">${editing ? t('admin.password_keep') : t('admin.password_invite')}</p>
          </div>
        </div>
        <${Checks} id="user-teams" legend=${t('admin.teams_served')} options=${teamOptions} selected=${form.teams}
          empty=${teams && teams.items ? t('admin.no_teams') : t('list.loading')} onChange=${(v) => setForm({ ...form, teams: v })} />
        <${Checks} id="user-supervises" legend=${t('admin.supervises')} options=${teamOptions} selected=${form.supervises}
          empty=${teams && teams.items ? t('admin.no_teams') : t('list.loading')} onChange=${(v) => setForm({ ...form, supervises: v })} />
        ${editing && user.locked_until != null && html`
          <label class="check check-wide">
            <input id="user-unlock" type="checkbox" checked=${form.unlock} onChange=${set('unlock')} />
            <span>${t('admin.unlock', { when: dateTime(user.locked_until) })}</span>
          </label>`}
        ${error && html`<p id="user-error" class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="user-submit" type="submit" class="button primary" disabled=${busy} aria-busy=${busy ? 'true' : 'false'}>
            ${editing ? t('common.save') : t('admin.create_user')}
          </button>
        </div>
      </form>
    <//>
  `;
}

function UserRow({ user, teams, now, open }) {
  const name = user.name || user.id;
  const locked = isLocked(user, now);
  const act = (label, short, cls, onClick) => html`
    <button type="button" class=${'button small ' + cls} aria-label=${t(label, { name }) /* i18n-dynamic */}
      onClick=${onClick}>${t(short) /* i18n-dynamic */}</button>`;
  return html`
    <li class="admin-item user-row" data-id=${user.id} data-active=${user.active ? 'true' : 'false'} data-locked=${locked ? 'true' : 'false'}>
      <div class="item-main">
        <p class="item-title">
          <strong dir="auto">${name}</strong>
          <span class="role-badge" data-role=${user.role}>${roleLabel(user.role)}</span>
          ${!user.active && html`<span class="tag tag-off">${t('admin.inactive')}</span>`}
          ${locked && html`<span class="tag tag-warn">${t('admin.locked_until', { when: dateTime(user.locked_until) })}</span>`}
          ${!user.has_password && user.active && html`<span class="tag">${t('admin.no_password')}</span>`}
        </p>
        <p class="muted small"><bdi dir="ltr">${user.email}</bdi> · <code>${user.id}</code></p>
        <dl class="item-facts">
          <div><dt>${t('admin.teams_served')}</dt><dd><${Names} names=${namesOf(teams, user.teams)} /></dd></div>
          <div><dt>${t('admin.supervises')}</dt><dd><${Names} names=${namesOf(teams, user.supervises)} /></dd></div>
          <div><dt>${t('admin.capacity')}</dt><dd>${user.capacity}</dd></div>
          <div><dt>${t('login.language')}</dt><dd>${languageLabel(user.language)}</dd></div>
          <div><dt>${t('admin.time_zone')}</dt><dd dir="ltr">${user.time_zone}</dd></div>
        </dl>
      </div>
      <div class="item-actions">
        ${act(K('admin.edit'), K('admin.edit_short'), 'user-edit', () => open({ kind: 'edit', user }))}
        ${user.active && act(K('admin.reset_link'), K('admin.reset_link_short'), 'user-reset', () => open({ kind: 'reset', user }))}
        ${user.active && act(K('admin.force_logout'), K('admin.force_logout_short'), 'user-logout', () => open({ kind: 'logout', user }))}
        ${user.active
          ? act(K('admin.deactivate'), K('admin.deactivate_short'), 'user-deactivate danger-text', () => open({ kind: 'deactivate', user }))
          : act(K('admin.reactivate'), K('admin.reactivate_short'), 'user-activate', () => open({ kind: 'activate', user }))}
      </div>
    </li>
  `;
}

function ResetDialog({ user, onClose }) {
  const [reset, setReset] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    resetLink(user.id).then(setReset, (e) => setError(explain(e)));
  }, []);
  return html`
    <${Modal} id="reset-dialog" title=${t('admin.reset_link_for', { name: user.name || user.id })} onClose=${onClose}>
      ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
      ${!reset && !error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
      ${reset && reset.url && html`
        <p>${t('admin.reset_intro')}</p>
        <${CopyField} id="reset-link" label=${t('admin.reset_link_label')} value=${reset.url}
          hint=${reset.expires_at ? t('admin.link_expires', { when: dateTime(reset.expires_at) }) : null} />`}
      <button type="button" class="button primary wide" onClick=${onClose}>${t('common.done')}</button>
    <//>
  `;
}

/** Runs a change for a confirm dialog: null when done (with a notice), else why not. */
async function attempt(work, done) {
  try {
    const result = await work();
    notify(done(result), 'info');
    return null;
  } catch (e) {
    return explain(e);
  }
}

function UsersPanel({ s }) {
  const { users, teams } = s.admin;
  const [filter, setFilter] = useState('');
  const [dialog, setDialog] = useState(null);
  useEffect(() => {
    loadUsers();
    loadAdminTeams();
  }, []);
  const now = Date.now();
  const q = filter.trim().toLowerCase();
  const shown = (users.items || [])
    .filter((u) => !q || [u.id, u.name, u.email].some((v) => String(v || '').toLowerCase().includes(q)))
    .sort((a, b) => Number(b.active) - Number(a.active) || String(a.name).localeCompare(String(b.name)));
  const close = () => setDialog(null);
  const d = dialog;
  const name = d && d.user ? d.user.name || d.user.id : '';
  return html`
    <${PanelHead} title=${t('admin.users')} count=${users.items ? users.items.length : undefined}>
      <label for="user-filter" class="visually-hidden">${t('admin.filter_users')}</label>
      <input id="user-filter" type="search" class="toolbar-search" placeholder=${t('admin.filter_users')} autocomplete="off"
        value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} />
      <button id="user-new" type="button" class="button primary" onClick=${() => setDialog({ kind: 'create' })}>
        ${icons.plus()}<span>${t('admin.new_user')}</span>
      </button>
    <//>
    <${ListState} list=${users} retry=${loadUsers} empty=${t('admin.no_users')} />
    ${users.items && users.items.length > 0 && !shown.length && html`<p class="muted">${t('list.no_match')}</p>`}
    <ul class="admin-list">
      ${shown.map((u) => html`<${UserRow} key=${u.id} user=${u} teams=${teams} now=${now} open=${setDialog} />`)}
    </ul>
    ${d && d.kind === 'create' && html`<${UserDialog} teams=${teams} onClose=${close} />`}
    ${d && d.kind === 'edit' && html`<${UserDialog} user=${d.user} teams=${teams} onClose=${close} />`}
    ${d && d.kind === 'reset' && html`<${ResetDialog} user=${d.user} onClose=${close} />`}
    ${d && d.kind === 'logout' && html`
      <${ConfirmDialog} title=${t('admin.force_logout', { name })} message=${t('admin.force_logout_confirm', { name })}
        confirmLabel=${t('admin.force_logout_short')}
        onConfirm=${() => attempt(() => forceLogout(d.user.id), (n) => t('admin.logged_out', { name, count: n }))} onClose=${close} />`}
    ${d && d.kind === 'deactivate' && html`
      <${ConfirmDialog} title=${t('admin.deactivate', { name })} message=${t('admin.deactivate_confirm', { name })}
        confirmLabel=${t('admin.deactivate_short')} danger
        onConfirm=${() => attempt(() => deactivateUser(d.user.id), () => t('admin.deactivated', { name }))} onClose=${close} />`}
    ${d && d.kind === 'activate' && html`
      <${ConfirmDialog} title=${t('admin.reactivate', { name })} message=${t('admin.reactivate_confirm', { name })}
        confirmLabel=${t('admin.reactivate_short')}
        onConfirm=${() => attempt(() => updateUser(d.user.id, { active: true }), () => t('admin.reactivated', { name }))} onClose=${close} />`}
  `;
}

// --- teams -----------------------------------------------------------------------------------

const SLA_CLOCK_KEYS = {
  first_response: K('admin.sla_first_response'),
  next_response: K('admin.sla_next_response'),
  resolution: K('admin.sla_resolution'),
};
const SLA_UNIT_KEYS = { minutes: K('admin.sla_minutes'), hours: K('admin.sla_hours') };

/** A team's SLA targets: a row per priority (any, then the routing's), each clock in minutes or hours. */
function SlaEditor({ rows, calendar, onChange }) {
  const setRow = (i, patch) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const setTarget = (i, clock, patch) => setRow(i, { [clock]: { ...rows[i][clock], ...patch } });
  return html`
    <fieldset id="team-sla" class="sla-editor">
      <legend>${t('admin.sla')}</legend>
      <p class="muted small">${t('admin.sla_hint')}</p>
      <p id="team-sla-calendar" class="small">
        ${calendar ? t('admin.sla_calendar', { calendar }) : t('admin.sla_no_calendar')}
      </p>
      ${rows.map((row, i) => html`
        <fieldset key=${String(row.priority)} class="sla-row" data-priority=${row.priority == null ? 'any' : String(row.priority)}>
          <legend>${row.priority == null ? t('admin.sla_any_priority') : t('admin.sla_priority', { priority: row.priority })}</legend>
          <div class="sla-targets">
            ${SLA_CLOCKS.map((clock) => {
              const id = `sla-${i}-${clock}`;
              const label = t(SLA_CLOCK_KEYS[clock]); // i18n-dynamic
              return html`
                <div key=${clock} class="field sla-target">
                  <label for=${id}>${label}</label>
                  <div class="sla-input">
                    <input id=${id} data-field=${id} type="text" inputmode="decimal" dir="ltr" autocomplete="off"
                      value=${row[clock].value} onInput=${(e) => setTarget(i, clock, { value: e.currentTarget.value })} />
                    <select id=${id + '-unit'} aria-label=${t('admin.sla_unit', { clock: label })} value=${row[clock].unit}
                      onChange=${(e) => setTarget(i, clock, { unit: e.currentTarget.value })}>
                      ${SLA_UNITS.map((u) => html`<option key=${u} value=${u}>${t(SLA_UNIT_KEYS[u]) /* i18n-dynamic */}</option>`)}
                    </select>
                  </div>
                </div>`;
            })}
          </div>
          <label class="check">
            <input id=${`sla-${i}-business_hours`} type="checkbox" checked=${row.business_hours}
              onChange=${(e) => setRow(i, { business_hours: e.currentTarget.checked })} />
            <span>${t('admin.sla_business_hours')}</span>
          </label>
        </fieldset>`)}
    </fieldset>
  `;
}

function TeamDialog({ team, teams, users, onClose }) {
  const editing = !!team;
  const [form, setForm] = useState(() => teamForm(team, teams && teams.slaPriorities));
  const ref = useRef(null);
  const { busy, error, run } = useSubmit(ref);
  const set = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value });
  const people = ((users && users.items) || [])
    .filter((u) => u.active || form.members.includes(u.id) || form.supervisors.includes(u.id))
    .map((u) => ({ value: u.id, label: u.name || u.id }));
  const others = ((teams && teams.items) || []).filter((x) => !team || x.id !== team.id);
  const submit = (e) => {
    e.preventDefault();
    const checked = teamBody(form, team);
    if (editing && !checked.error && !checked.body) {
      onClose();
      return;
    }
    run(checked, async (body) => {
      if (editing) await updateTeam(team.id, body);
      else await createTeam(body);
      notify(t(editing ? K('admin.saved') : K('admin.team_created'), { name: form.name.trim() }), 'info'); // i18n-dynamic
      onClose();
    });
  };
  const loadingPeople = users && users.items ? t('admin.no_users') : t('list.loading');
  return html`
    <${Modal} id="team-dialog" title=${editing ? t('admin.edit_team', { name: team.name || team.id }) : t('admin.new_team')} onClose=${onClose}>
      <form id=${editing ? 'team-edit' : 'team-create'} ref=${ref} class="admin-form" onSubmit=${submit} novalidate>
        <div class="form-grid">
          ${!editing && html`
            <div class="field">
              <label for="team-id">${t('admin.id')}</label>
              <input id="team-id" data-field="id" type="text" dir="ltr" required autocomplete="off" spellcheck="false" maxlength="64"
                aria-describedby="team-id-hint" value=${form.id} onInput=${set('id')} />
              <p id="team-id-hint" class="muted small">${t('admin.id_hint')}</p>
            </div>`}
          <div class="field">
            <label for="team-name">${t('admin.name')}</label>
            <input id="team-name" data-field="name" type="text" dir="auto" required maxlength="200" autocomplete="off"
              value=${form.name} onInput=${set('name')} />
          </div>
          <div class="field field-wide">
            <label for="team-description">${t('admin.description')}</label>
            <input id="team-description" type="text" dir="auto" autocomplete="off" value=${form.description} onInput=${set('description')} />
          </div>
          <div class="field">
            <label for="team-strategy">${t('admin.strategy')}</label>
            <select id="team-strategy" value=${form.strategy} onChange=${set('strategy')}>
              ${STRATEGIES.map((x) => html`<option key=${x} value=${x}>${strategyLabel(x)}</option>`)}
            </select>
          </div>
          <div class="field">
            <label for="team-offer-timeout">${t('admin.offer_timeout')}</label>
            <input id="team-offer-timeout" data-field="offer_timeout_seconds" type="number" inputmode="numeric" min="0" max="3600"
              dir="ltr" aria-describedby="team-offer-timeout-hint" value=${form.offer_timeout_seconds} onInput=${set('offer_timeout_seconds')} />
            <p id="team-offer-timeout-hint" class="muted small">${t('admin.offer_timeout_hint')}</p>
          </div>
          <div class="field">
            <label for="team-overflow">${t('admin.overflow_team')}</label>
            <select id="team-overflow" data-field="overflow_team" value=${form.overflow_team} onChange=${set('overflow_team')}>
              <option value="">${t('admin.no_overflow')}</option>
              ${others.map((x) => html`<option key=${x.id} value=${x.id}>${x.name || x.id}</option>`)}
              ${form.overflow_team && !others.some((x) => x.id === form.overflow_team) && html`<option value=${form.overflow_team}>${form.overflow_team}</option>`}
            </select>
          </div>
          <div class="field">
            <label for="team-overflow-after">${t('admin.overflow_after')}</label>
            <input id="team-overflow-after" data-field="overflow_after" type="number" inputmode="numeric" min="1" dir="ltr"
              disabled=${!form.overflow_team} value=${form.overflow_after} onInput=${set('overflow_after')} />
          </div>
          <div class="field">
            <label for="team-max-queue">${t('admin.max_queue')}</label>
            <input id="team-max-queue" data-field="max_queue" type="number" inputmode="numeric" min="1" max="1000000" dir="ltr"
              value=${form.max_queue} onInput=${set('max_queue')} />
          </div>
          <div class="field">
            <label for="team-mask">${t('admin.mask_numbers')}</label>
            <select id="team-mask" value=${form.mask_numbers} onChange=${set('mask_numbers')}>
              <option value="">${t('admin.mask_default')}</option>
              <option value="true">${t('admin.mask_yes')}</option>
              <option value="false">${t('admin.mask_no')}</option>
            </select>
          </div>
        </div>
        <label class="check check-wide">
          <input id="team-private" type="checkbox" checked=${form.private} onChange=${set('private')} />
          <span>${t('admin.private_hint')}</span>
        </label>
        <${Checks} id="team-members" legend=${t('admin.members')} options=${people} selected=${form.members}
          empty=${loadingPeople} onChange=${(v) => setForm({ ...form, members: v })} />
        <${Checks} id="team-supervisors" legend=${t('admin.supervisors')} options=${people} selected=${form.supervisors}
          empty=${loadingPeople} onChange=${(v) => setForm({ ...form, supervisors: v })} />
        <${SlaEditor} rows=${form.sla} calendar=${team && team.business_hours} onChange=${(v) => setForm({ ...form, sla: v })} />
        ${error && html`<p id="team-error" class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="team-submit" type="submit" class="button primary" disabled=${busy} aria-busy=${busy ? 'true' : 'false'}>
            ${editing ? t('common.save') : t('admin.create_team')}
          </button>
        </div>
      </form>
    <//>
  `;
}

function TeamRow({ team, teams, users, open }) {
  const name = team.name || team.id;
  const overflow = team.overflow && team.overflow.team;
  const mask = team.mask_numbers === true ? t('admin.mask_yes') : team.mask_numbers === false ? t('admin.mask_no') : t('admin.mask_default');
  return html`
    <li class="admin-item team-row" data-id=${team.id}>
      <div class="item-main">
        <p class="item-title">
          <strong dir="auto">${name}</strong> <code>${team.id}</code>
          ${team.private && html`<span class="tag">${t('board.private')}</span>`}
        </p>
        ${team.description && html`<p class="muted small" dir="auto">${team.description}</p>`}
        <dl class="item-facts">
          <div><dt>${t('admin.strategy')}</dt><dd>${strategyLabel(team.strategy)}</dd></div>
          <div><dt>${t('admin.offers')}</dt><dd>${team.offer_timeout_seconds ? t('admin.offer_seconds', { seconds: team.offer_timeout_seconds }) : t('admin.offer_none')}</dd></div>
          <div><dt>${t('admin.overflow_team')}</dt><dd>${overflow
            ? t('admin.overflow_to', { team: namesOf(teams, [overflow])[0], seconds: team.overflow.after_seconds })
            : t('admin.no_overflow')}</dd></div>
          <div><dt>${t('admin.max_queue')}</dt><dd>${team.max_queue}</dd></div>
          <div><dt>${t('admin.mask_numbers')}</dt><dd>${mask}</dd></div>
          <div><dt>${t('admin.sla')}</dt><dd class="team-sla">${team.sla && team.sla.length
            ? t('admin.sla_own', { count: team.sla.length }) : t('admin.sla_configured')}</dd></div>
          <div><dt>${t('admin.members')}</dt><dd><${Names} names=${namesOf(users, team.members)} /></dd></div>
          <div><dt>${t('admin.supervisors')}</dt><dd><${Names} names=${namesOf(users, team.supervisors)} /></dd></div>
        </dl>
      </div>
      <div class="item-actions">
        <button type="button" class="button small team-edit" aria-label=${t('admin.edit', { name })}
          onClick=${() => open({ kind: 'edit', team })}>${t('admin.edit_short')}</button>
        <button type="button" class="button small danger-text team-delete" aria-label=${t('admin.delete_team', { name })}
          onClick=${() => open({ kind: 'delete', team })}>${t('admin.delete_short')}</button>
      </div>
    </li>
  `;
}

function TeamsPanel({ s }) {
  const { users, teams } = s.admin;
  const [dialog, setDialog] = useState(null);
  useEffect(() => {
    loadAdminTeams();
    loadUsers();
  }, []);
  const close = () => setDialog(null);
  const d = dialog;
  const name = d && d.team ? d.team.name || d.team.id : '';
  const shown = [...(teams.items || [])].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  return html`
    <${PanelHead} title=${t('admin.teams')} count=${teams.items ? teams.items.length : undefined}>
      <button id="team-new" type="button" class="button primary" onClick=${() => setDialog({ kind: 'create' })}>
        ${icons.plus()}<span>${t('admin.new_team')}</span>
      </button>
    <//>
    <${ListState} list=${teams} retry=${loadAdminTeams} empty=${t('admin.no_teams')} />
    <ul class="admin-list">
      ${shown.map((x) => html`<${TeamRow} key=${x.id} team=${x} teams=${teams} users=${users} open=${setDialog} />`)}
    </ul>
    ${d && d.kind === 'create' && html`<${TeamDialog} teams=${teams} users=${users} onClose=${close} />`}
    ${d && d.kind === 'edit' && html`<${TeamDialog} team=${d.team} teams=${teams} users=${users} onClose=${close} />`}
    ${d && d.kind === 'delete' && html`
      <${ConfirmDialog} title=${t('admin.delete_team', { name })} message=${t('admin.delete_team_confirm', { name })}
        confirmLabel=${t('admin.delete_short')} danger
        onConfirm=${() => attempt(() => deleteTeam(d.team.id), () => t('admin.team_deleted', { name }))} onClose=${close} />`}
  `;
}

// --- the screen ------------------------------------------------------------------------------

export function Admin({ s }) {
  const tab = TABS.some((x) => x.key === s.adminTab) ? s.adminTab : 'users';
  return html`
    <main id="admin" class="view admin" aria-labelledby="admin-title">
      <header class="view-head">
        <h2 id="admin-title" class="view-title" tabindex="-1">${t('admin.title')}</h2>
      </header>
      <${Tabs} tab=${tab} />
      <section id="admin-panel" class="admin-panel" role="tabpanel" aria-labelledby=${'admin-' + tab} data-tab=${tab}>
        ${tab === 'users' && html`<${UsersPanel} s=${s} />`}
        ${tab === 'teams' && html`<${TeamsPanel} s=${s} />`}
        ${tab === 'fields' && html`<${ContactFieldsPanel} />`}
        ${tab === 'tokens' && html`<${TokensPanel} s=${s} />`}
        ${tab === 'webhooks' && html`<${WebhooksPanel} />`}
        ${tab === 'keys' && html`<${ApiKeysPanel} />`}
        ${tab === 'panel-apps' && html`<${PanelAppsPanel} s=${s} />`}
        ${tab === 'templates' && html`<${TemplatesPanel} />`}
        ${tab === 'audit' && html`<${AuditPanel} s=${s} />`}
        ${tab === 'reload' && html`<${ReloadPanel} />`}
      </section>
    </main>
  `;
}
