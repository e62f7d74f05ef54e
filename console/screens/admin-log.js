// Administration, continued: every user's API tokens (revoke), the audit log (filters, newest
// first, older pages, each entry's before/after), and reloading the bot flows and routing
// rules from the files.

import { html, useEffect, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { dateTime, iso, timeZone } from '../lib/format.js';
import { explain, notify } from '../lib/actions.js';
import { loadAudit, loadTokens, loadUsers, reloadConfiguration, revokeToken } from '../lib/admin.js';
import { AUDIT_ACTIONS, auditDiff, auditParams, prettyJson, reloadSummary } from '../lib/admin-model.js';
import { ConfirmDialog, icons } from './common.js';
import { tokenState } from './account.js';

function userName(users, id) {
  const u = ((users && users.items) || []).find((x) => x.id === id);
  return (u && u.name) || id || '';
}

// --- tokens ----------------------------------------------------------------------------------

export function TokensPanel({ s }) {
  const { tokens, users } = s.admin;
  const [user, setUser] = useState('');
  const [revoking, setRevoking] = useState(null);
  useEffect(() => {
    loadUsers();
  }, []);
  useEffect(() => {
    loadTokens(user);
  }, [user]);
  const items = [...(tokens.items || [])].sort(
    (a, b) => Number(!!a.revoked_at) - Number(!!b.revoked_at) || (b.created_at || 0) - (a.created_at || 0),
  );
  const revoke = async (token) => {
    try {
      await revokeToken(token.id);
      notify(t('tokens.revoked', { name: token.name }), 'info');
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.tokens')}</h3>
      <span class="spacer"></span>
      <label for="token-user" class="toolbar-label">${t('tokens.of_user')}</label>
      <select id="token-user" value=${user} onChange=${(e) => setUser(e.currentTarget.value)}>
        <option value="">${t('tokens.all_users')}</option>
        ${((users && users.items) || []).map((u) => html`<option key=${u.id} value=${u.id}>${u.name || u.id}</option>`)}
      </select>
    </div>
    ${tokens.error && html`<div class="error" role="alert"><span dir="auto">${tokens.error}</span>
      <button type="button" class="button small" onClick=${() => loadTokens(user)}>${t('common.retry')}</button></div>`}
    ${!tokens.items && !tokens.error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${tokens.items && !items.length && html`<p class="muted">${t('tokens.none')}</p>`}
    <ul class="admin-list">
      ${items.map((x) => html`
        <li key=${x.id} class="admin-item token-row" data-id=${x.id} data-revoked=${x.revoked_at ? 'true' : 'false'}>
          <div class="item-main">
            <p class="item-title"><strong dir="auto">${x.name}</strong> <code>${x.id}</code>
              ${x.revoked_at && html`<span class="tag tag-off">${t('tokens.revoked_tag')}</span>`}</p>
            <p class="muted small">
              <span dir="auto">${userName(users, x.user)}</span> · ${t('tokens.created', { when: dateTime(x.created_at) })} · ${tokenState(x)}
            </p>
          </div>
          ${!x.revoked_at && html`
            <div class="item-actions">
              <button type="button" class="button small danger-text token-revoke" aria-label=${t('tokens.revoke_named', { name: x.name })}
                onClick=${() => setRevoking(x)}>${t('tokens.revoke')}</button>
            </div>`}
        </li>`)}
    </ul>
    ${revoking && html`
      <${ConfirmDialog} title=${t('tokens.revoke_title')}
        message=${t('tokens.revoke_other_confirm', { name: revoking.name, user: userName(users, revoking.user) })}
        confirmLabel=${t('tokens.revoke')} danger onConfirm=${() => revoke(revoking)} onClose=${() => setRevoking(null)} />`}
  `;
}

// --- audit -----------------------------------------------------------------------------------

const ACTOR_KEYS = {
  system: K('audit.system'),
  anonymous: K('audit.anonymous'),
};

function Actor({ entry, users }) {
  if (entry.actor_kind === 'api_key') {
    return html`<span class="audit-api-key" dir="auto">${t('audit.api_key', { key: entry.actor || '' })}</span>`;
  }
  if (entry.actor_kind === 'system' || entry.actor_kind === 'anonymous' || !entry.actor) {
    return html`<span class="muted">${t(ACTOR_KEYS[entry.actor_kind] || K('audit.anonymous')) /* i18n-dynamic */}</span>`;
  }
  const name = userName(users, entry.actor);
  return html`
    <span dir="auto">${name}</span>
    ${name !== entry.actor && html` <code class="muted">${entry.actor}</code>`}
    ${entry.token && html` <span class="muted small">${t('audit.via_token', { token: entry.token })}</span>`}
  `;
}

function Changes({ before, after }) {
  if (before == null && after == null) return null;
  const rows = auditDiff(before, after);
  if (rows) {
    if (!rows.length) return html`<p class="muted small">${t('audit.no_change')}</p>`;
    return html`
      <div class="table-scroll">
        <table class="diff">
          <thead><tr><th scope="col">${t('audit.field')}</th><th scope="col">${t('audit.before')}</th><th scope="col">${t('audit.after')}</th></tr></thead>
          <tbody>
            ${rows.map((r) => html`
              <tr key=${r.key}>
                <th scope="row"><code>${r.key}</code></th>
                <td class="diff-before"><code dir="ltr">${r.before === undefined ? '—' : r.before}</code></td>
                <td class="diff-after"><code dir="ltr">${r.after === undefined ? '—' : r.after}</code></td>
              </tr>`)}
          </tbody>
        </table>
      </div>
    `;
  }
  return html`
    ${before != null && html`<h5 class="subheading">${t('audit.before')}</h5><pre class="json" dir="ltr">${prettyJson(before)}</pre>`}
    ${after != null && html`<h5 class="subheading">${t('audit.after')}</h5><pre class="json" dir="ltr">${prettyJson(after)}</pre>`}
  `;
}

function Entry({ entry, users }) {
  const target = [entry.target_kind, entry.target].filter(Boolean).join(' ');
  return html`
    <li class="audit-entry" data-id=${entry.id} data-action=${entry.action}>
      <details>
        <summary>
          <time datetime=${iso(entry.at)}>${dateTime(entry.at)}</time>
          <code class="audit-action">${entry.action}</code>
          <span class="audit-actor"><${Actor} entry=${entry} users=${users} /></span>
          ${target && html`<span class="audit-target muted"><bdi dir="ltr">${target}</bdi></span>`}
          ${entry.address && html`<span class="audit-address muted small" title=${t('audit.address')}><bdi dir="ltr">${entry.address}</bdi></span>`}
        </summary>
        <div class="audit-body">
          <dl class="item-facts">
            <div><dt>${t('audit.address')}</dt><dd dir="ltr">${entry.address || t('common.none')}</dd></div>
            ${entry.token && html`<div><dt>${t('audit.token')}</dt><dd><code>${entry.token}</code></dd></div>`}
            <div><dt>${t('audit.user_agent')}</dt><dd dir="ltr" class="small">${entry.user_agent || t('common.none')}</dd></div>
          </dl>
          <${Changes} before=${entry.before} after=${entry.after} />
        </div>
      </details>
    </li>
  `;
}

const NO_FILTER = { actor: '', action: '', from: '', to: '' };

export function AuditPanel({ s }) {
  const { audit, users } = s.admin;
  const [filter, setFilter] = useState(NO_FILTER);
  const [applied, setApplied] = useState(NO_FILTER);
  useEffect(() => {
    loadUsers();
    loadAudit(auditParams(NO_FILTER, timeZone()));
  }, []);
  const set = (key) => (e) => setFilter({ ...filter, [key]: e.currentTarget.value });
  const apply = (e) => {
    e.preventDefault();
    setApplied(filter);
    loadAudit(auditParams(filter, timeZone()));
  };
  const clear = () => {
    setFilter(NO_FILTER);
    setApplied(NO_FILTER);
    loadAudit(auditParams(NO_FILTER, timeZone()));
  };
  const older = () => loadAudit(auditParams(applied, timeZone(), audit.next), true);
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.audit')}</h3>
    </div>
    <form id="audit-filter" class="filters" onSubmit=${apply}>
      <div class="field">
        <label for="audit-actor">${t('audit.actor')}</label>
        <input id="audit-actor" type="text" dir="ltr" list="audit-actors" autocomplete="off" spellcheck="false"
          value=${filter.actor} onInput=${set('actor')} />
        <datalist id="audit-actors">${((users && users.items) || []).map((u) => html`<option key=${u.id} value=${u.id}>${u.name}</option>`)}</datalist>
      </div>
      <div class="field">
        <label for="audit-action">${t('audit.action')}</label>
        <input id="audit-action" type="text" dir="ltr" list="audit-actions" autocomplete="off" spellcheck="false"
          aria-describedby="audit-action-hint" value=${filter.action} onInput=${set('action')} />
        <datalist id="audit-actions">${AUDIT_ACTIONS.map((a) => html`<option key=${a} value=${a} />`)}</datalist>
        <p id="audit-action-hint" class="muted small">${t('audit.action_hint')}</p>
      </div>
      <div class="field">
        <label for="audit-from">${t('audit.from')}</label>
        <input id="audit-from" type="datetime-local" value=${filter.from} onInput=${set('from')} />
      </div>
      <div class="field">
        <label for="audit-to">${t('audit.to')}</label>
        <input id="audit-to" type="datetime-local" value=${filter.to} onInput=${set('to')} />
      </div>
      <div class="form-actions">
        <button type="button" class="button" onClick=${clear}>${t('audit.clear')}</button>
        <button id="audit-apply" type="submit" class="button primary">${t('audit.apply')}</button>
      </div>
    </form>
    ${audit.error && html`<p class="error" role="alert" dir="auto">${audit.error}</p>`}
    ${!audit.loaded && audit.loading && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${audit.loaded && !audit.entries.length && !audit.error && html`<p class="muted">${t('audit.none')}</p>`}
    <ol class="audit-list" aria-busy=${audit.loading ? 'true' : 'false'}>
      ${audit.entries.map((e) => html`<${Entry} key=${e.id} entry=${e} users=${users} />`)}
    </ol>
    ${audit.next != null && html`
      <button id="audit-older" type="button" class="button wide" disabled=${audit.loading} onClick=${older}>
        ${audit.loading ? t('list.loading') : t('audit.older')}
      </button>`}
  `;
}

// --- reload ----------------------------------------------------------------------------------

const SECTION_KEYS = { flows: K('reload.flows'), steps: K('reload.steps'), rules: K('reload.rules') };

function NameList({ label, names }) {
  if (!names.length) return null;
  return html`<div><dt>${label}</dt><dd><ul class="names">${names.map((n) => html`<li key=${n}><code>${n}</code></li>`)}</ul></dd></div>`;
}

export function ReloadPanel() {
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState(null);
  const [error, setError] = useState(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      setReport(reloadSummary(await reloadConfiguration()));
    } catch (e) {
      setReport(null);
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <div class="panel-toolbar">
      <h3 class="panel-title">${t('admin.reload')}</h3>
    </div>
    <p>${t('reload.intro')}</p>
    <button id="reload-run" type="button" class="button primary" disabled=${busy} aria-busy=${busy ? 'true' : 'false'} onClick=${run}>
      ${icons.refresh()}<span>${busy ? t('reload.running') : t('reload.run')}</span>
    </button>
    ${error && html`<p id="reload-error" class="error" role="alert" dir="auto">${error}</p>`}
    ${report && html`
      <section id="reload-report" class="reload-report" role="status" data-changed=${report.changed ? 'true' : 'false'}>
        <p class=${report.changed ? 'notice info' : 'muted'}>
          ${report.changed ? t('reload.changed') : t('reload.unchanged')}
        </p>
        <dl class="item-facts">
          <div><dt>${t('reload.fingerprint')}</dt><dd><code>${report.fingerprint}</code></dd></div>
          ${report.changed && html`<div><dt>${t('reload.previous')}</dt><dd><code>${report.previous}</code></dd></div>`}
        </dl>
        ${report.sections.map((sec) => html`
          <div key=${sec.key} class="reload-section">
            <h4 class="subheading">${t(SECTION_KEYS[sec.key]) /* i18n-dynamic */}</h4>
            <dl class="item-facts">
              <${NameList} label=${t('reload.added')} names=${sec.added} />
              <${NameList} label=${t('reload.removed')} names=${sec.removed} />
              <${NameList} label=${t('reload.changed_names')} names=${sec.changed} />
            </dl>
          </div>`)}
        ${report.routing.length > 0 && html`
          <h4 class="subheading">${t('reload.routing')}</h4>
          <ul class="names">${report.routing.map((n) => html`<li key=${n}><code>${n}</code></li>`)}</ul>`}
        ${report.needsRestart.length > 0 && html`
          <div class="hint">
            <p>${t('reload.needs_restart')}</p>
            <ul class="names">${report.needsRestart.map((n) => html`<li key=${n}><code>${n}</code></li>`)}</ul>
          </div>`}
      </section>`}
  `;
}
