// Campaigns (docs/CAMPAIGNS.md, "Campaigns"), for supervisors and admins: the list (newest
// first, each with its state and a compact progress; admins start a new one), the wizard
// (campaign-wizard.js), and a campaign's page: its state and why it is held, the actions its
// state allows an admin (preview and start a draft, pause, resume, cancel), its counts with
// their shares (the excluded by reason, the failed by Meta's error code), the cost estimated
// and actual, and the recipients as CSV (fetched with the token). The page asks again every 2 s
// while the campaign is scheduled or running (every 5 s while paused and in the week after it
// completed: statuses, replies and opt-outs still come), and stops when it is left.
// Pure parts: lib/campaign-model.js.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { currentLocale, K, t } from '../lib/i18n.js';
import { dateTime } from '../lib/format.js';
import { explain, notify } from '../lib/actions.js';
import { api, fetchBlob } from '../lib/api.js';
import {
  actionsFor, breakdown, costRows, count, EXCLUSIONS, isLive, money, percent, pollInterval, progress, tiles, total,
} from '../lib/campaign-model.js';
import { ConfirmDialog, currentUser, icons } from './common.js';
import { Bubble } from './template.js';
import { CampaignWizard } from './campaign-wizard.js';

/** How often the list asks again while a campaign in it is live (a campaign's page: pollInterval). */
const LIST_POLL_MS = 5000;

const enc = encodeURIComponent;

const STATE_KEYS = {
  draft: K('campaigns.state.draft'),
  scheduled: K('campaigns.state.scheduled'),
  running: K('campaigns.state.running'),
  paused: K('campaigns.state.paused'),
  completed: K('campaigns.state.completed'),
  cancelled: K('campaigns.state.cancelled'),
};

const EXCLUSION_KEYS = {
  no_number: K('campaigns.reason.no_number'),
  duplicate: K('campaigns.reason.duplicate'),
  excluded_segment: K('campaigns.reason.excluded_segment'),
  country_rule: K('campaigns.reason.country_rule'),
  no_consent: K('campaigns.reason.no_consent'),
  opted_out: K('campaigns.reason.opted_out'),
  frequency_cap: K('campaigns.reason.frequency_cap'),
  missing_parameter: K('campaigns.reason.missing_parameter'),
  refused: K('campaigns.reason.refused'),
};

const MEASURE_KEYS = {
  targeted: K('campaigns.measure.targeted'),
  excluded: K('campaigns.measure.excluded'),
  pending: K('campaigns.measure.pending'),
  sent: K('campaigns.measure.sent'),
  delivered: K('campaigns.measure.delivered'),
  read: K('campaigns.measure.read'),
  replied: K('campaigns.measure.replied'),
  failed: K('campaigns.measure.failed'),
  opted_out: K('campaigns.measure.opted_out'),
};

/** What each tile's share is of. */
const SHARE_KEYS = {
  excluded: K('campaigns.share_targeted'),
  pending: K('campaigns.share_reachable'),
  sent: K('campaigns.share_reachable'),
  delivered: K('campaigns.share_sent'),
  read: K('campaigns.share_sent'),
  replied: K('campaigns.share_sent'),
  failed: K('campaigns.share_sent'),
  opted_out: K('campaigns.share_sent'),
};

const ACTION_KEYS = {
  preview: K('campaigns.action.preview'),
  start: K('campaigns.action.start'),
  pause: K('campaigns.action.pause'),
  resume: K('campaigns.action.resume'),
  cancel: K('campaigns.action.cancel'),
};

/** What a notice says once an action is done. */
const DONE_KEYS = {
  start: K('campaigns.done.start'),
  scheduled: K('campaigns.done.scheduled'),
  pause: K('campaigns.done.pause'),
  resume: K('campaigns.done.resume'),
  cancel: K('campaigns.done.cancel'),
};

const CATEGORY_KEYS = {
  MARKETING: K('templates.marketing'),
  UTILITY: K('templates.utility'),
  AUTHENTICATION: K('templates.authentication'),
};

export function stateLabel(state) {
  return STATE_KEYS[state] ? t(STATE_KEYS[state]) /* i18n-dynamic */ : String(state || '');
}

export function categoryLabel(category) {
  return CATEGORY_KEYS[category] ? t(CATEGORY_KEYS[category]) /* i18n-dynamic */ : String(category || '');
}

function reasonLabel(reason) {
  return EXCLUSION_KEYS[reason] ? t(EXCLUSION_KEYS[reason]) /* i18n-dynamic */ : reason;
}

const num = (n) => count(n, currentLocale());

/** A country's name in the UI's language, with its code ("Spain (ES)"); "Unknown" for none. */
function countryLabel(code) {
  if (!code || code === 'unknown') return t('campaigns.country_unknown');
  try {
    const name = new Intl.DisplayNames([currentLocale()], { type: 'region' }).of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}

export function StateBadge({ state, id }) {
  return html`<span id=${id} class="campaign-state" data-state=${state}>${stateLabel(state)}</span>`;
}

/** Segments by id, for names (loaded once per visit of the view). */
function useSegments() {
  const [segments, setSegments] = useState(null);
  useEffect(() => {
    let live = true;
    api('GET', '/api/v1/segments')
      .then((body) => live && setSegments((body && body.segments) || []))
      .catch(() => live && setSegments([]));
    return () => {
      live = false;
    };
  }, []);
  return segments;
}

function segmentName(segments, id) {
  const x = (segments || []).find((s) => s.id === id);
  return (x && x.name) || id;
}

// --- the list --------------------------------------------------------------------------------

function CampaignRow({ c, onOpen }) {
  const p = progress(c.counts);
  const counts = c.counts || {};
  return html`
    <li class="admin-item campaign-row" data-id=${c.id} data-state=${c.state}>
      <div class="item-main">
        <p class="item-title">
          <button type="button" class="link-button campaign-open" onClick=${() => onOpen(c.id)}>
            <strong dir="auto">${c.name}</strong>
          </button>
          <${StateBadge} state=${c.state} />
        </p>
        <p class="muted small">
          <bdi dir="ltr">${c.template && c.template.name}</bdi> · <bdi dir="ltr">${c.template && c.template.language}</bdi>${' · '}
          <bdi dir="auto">${c.channel}</bdi> · ${t('campaigns.created_at', { when: dateTime(c.created_at) })}
        </p>
        ${c.reason && html`<p class="small campaign-reason-line" dir="auto">${icons.failed()}<span>${c.reason}</span></p>`}
        <div class="campaign-progress">
          <progress max=${Math.max(1, p.of)} value=${p.sent} aria-hidden="true"></progress>
          <span>${t('campaigns.progress', { sent: num(p.sent), of: num(p.of) })}</span>
        </div>
        <dl class="item-facts">
          ${['delivered', 'read', 'replied', 'failed'].map((k) => html`
            <div key=${k} data-measure=${k}><dt>${t(MEASURE_KEYS[k]) /* i18n-dynamic */}</dt><dd>${num(counts[k] || 0)}</dd></div>`)}
        </dl>
      </div>
    </li>
  `;
}

function CampaignList({ admin, onOpen, onNew }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const load = async () => {
    try {
      const body = await api('GET', '/api/v1/campaigns');
      setItems((body && body.campaigns) || []);
      setError(null);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, []);
  const anyLive = (items || []).some((c) => isLive(c.state));
  useEffect(() => {
    if (!anyLive) return undefined;
    const timer = setInterval(load, LIST_POLL_MS);
    return () => clearInterval(timer);
  }, [anyLive]);
  return html`
    <header class="view-head">
      <h2 id="campaigns-title" class="view-title" tabindex="-1">${t('campaigns.title')}</h2>
      <span class="spacer"></span>
      ${admin && html`
        <button id="campaign-new" type="button" class="button primary" onClick=${onNew}>
          ${icons.plus()}<span>${t('campaigns.new')}</span>
        </button>`}
    </header>
    <p class="muted campaigns-intro">${t('campaigns.intro')}</p>
    ${error && html`<div class="error" role="alert"><span dir="auto">${error}</span>
      <button type="button" class="button small" onClick=${load}>${t('common.retry')}</button></div>`}
    ${!items && !error && html`<p class="muted" role="status">${t('list.loading')}</p>`}
    ${items && !items.length && html`<p id="campaigns-empty" class="muted">${admin ? t('campaigns.none_admin') : t('campaigns.none')}</p>`}
    <ul class="admin-list campaign-list">
      ${(items || []).map((c) => html`<${CampaignRow} key=${c.id} c=${c} onOpen=${onOpen} />`)}
    </ul>
  `;
}

// --- a preview -------------------------------------------------------------------------------

function Stat({ measure, label, n, note, children, tone }) {
  return html`
    <div class=${'stat' + (tone ? ' stat-' + tone : '')} data-measure=${measure}>
      <dt>${label}</dt>
      <dd class="stat-value" data-value=${String(n)}>${num(n)}</dd>
      ${note && html`<dd class="stat-note">${note}</dd>`}
      ${children}
    </div>`;
}

/** Rows of a breakdown (`[{key, n}]`) under a tile. */
function Breakdown({ rows, label, className, labelOf }) {
  if (!rows.length) return null;
  return html`
    <dd class=${'stat-breakdown ' + className}>
      <ul aria-label=${label}>
        ${rows.map((r) => html`
          <li key=${r.key} data-reason=${r.key}><span class="what" dir="auto">${labelOf(r.key)}</span> <span class="count">${num(r.n)}</span></li>`)}
      </ul>
    </dd>`;
}

function CostTable({ rows, currency, caption }) {
  if (!rows.length) return null;
  const locale = currentLocale();
  return html`
    <div class="reports-table-wrap">
      <table class="reports-times campaign-cost-table">
        <caption class="visually-hidden">${caption}</caption>
        <thead><tr>
          <th scope="col">${t('campaigns.country')}</th>
          <th scope="col">${t('campaigns.messages')}</th>
          <th scope="col">${t('campaigns.amount')}</th>
        </tr></thead>
        <tbody>
          ${rows.map((r) => html`
            <tr key=${r.country} data-country=${r.country}>
              <th scope="row">${countryLabel(r.country)}</th>
              <td>${num(r.messages)}</td>
              <td>${money(r.amount, currency, locale)}</td>
            </tr>`)}
        </tbody>
      </table>
    </div>`;
}

/** POST /preview's answer: who it reaches now, who not and why, the cost, a sample. */
function PreviewView({ p }) {
  const locale = currentLocale();
  const excluded = total(p.excluded);
  const reasons = breakdown(p.excluded, EXCLUSIONS);
  const cost = p.cost || {};
  const sample = Array.isArray(p.sample) ? p.sample : [];
  return html`
    <dl class="reports-counts campaign-counts">
      <${Stat} measure="audience" label=${t('campaigns.preview.audience')} n=${p.audience || 0} />
      <${Stat} measure="eligible" label=${t('campaigns.preview.eligible')} n=${p.eligible || 0}
        note=${p.audience ? t('campaigns.share_segment', { percent: percent((p.eligible || 0) / p.audience, locale) }) : null}
        tone=${p.eligible ? null : 'warn'} />
      <${Stat} measure="excluded" label=${t('campaigns.preview.excluded')} n=${excluded}>
        <${Breakdown} rows=${reasons} label=${t('campaigns.excluded_by_reason')} className="excluded-reasons" labelOf=${reasonLabel} />
      <//>
      <${Stat} measure="bsuid_only" label=${t('campaigns.preview.bsuid_only')} n=${p.bsuid_only || 0}
        note=${t('campaigns.preview.bsuid_hint')} />
    </dl>
    <section class="preview-cost" aria-labelledby="preview-cost-title">
      <h4 id="preview-cost-title" class="subheading">
        ${t('campaigns.estimated_cost', { amount: money(cost.amount || 0, cost.currency, locale) })}
        ${p.category && html` <span class="tag">${categoryLabel(p.category)}</span>`}
      </h4>
      <${CostTable} rows=${costRows(cost.by_country)} currency=${cost.currency} caption=${t('campaigns.preview_cost_by_country')} />
    </section>
    <section class="sample" aria-labelledby="sample-title">
      <h4 id="sample-title" class="subheading">${t('campaigns.sample', { count: sample.length })}</h4>
      ${!sample.length && html`<p class="muted">${t('campaigns.sample_none')}</p>`}
      <ul class="sample-list">
        ${sample.map((r, i) => html`
          <li key=${r.contact} class="sample-recipient" data-contact=${r.contact}>
            <p class="small"><strong dir="auto">${r.name || t('customer.unknown')}</strong>${' · '}
              <bdi dir="ltr">${r.address}</bdi>${r.country ? ' · ' + countryLabel(r.country) : ''}</p>
            <${Bubble} p=${r.preview} id=${'sample-bubble-' + i} />
          </li>`)}
      </ul>
    </section>
  `;
}

// --- a campaign's page -----------------------------------------------------------------------

/** "Now", "From 1 Apr 2030, 10:30", and the window "09:00–20:00 (Europe/Madrid)". */
function scheduleText(spec) {
  const s = (spec && spec.schedule) || {};
  const at = s.start_at ? Date.parse(s.start_at) : NaN;
  const start = Number.isFinite(at) ? t('campaigns.schedule_at', { when: dateTime(at) }) : t('campaigns.schedule_now');
  if (!s.window) return start;
  return start + ' · ' + t('campaigns.schedule_window', { from: s.window.from, to: s.window.to, zone: s.window.timezone || 'UTC' });
}

function Facts({ c, segments }) {
  const spec = c.spec || {};
  const audience = spec.audience || {};
  const excluded = (audience.exclude_segments || []).map((id) => segmentName(segments, id));
  const cap = spec.frequency_cap;
  return html`
    <dl class="item-facts campaign-facts">
      <div><dt>${t('campaigns.template')}</dt><dd><bdi dir="ltr">${c.template.name}</bdi> · <bdi dir="ltr">${c.template.language}</bdi>
        ${c.category && html` <span class="tag">${categoryLabel(c.category)}</span>`}</dd></div>
      <div><dt>${t('campaigns.channel')}</dt><dd dir="auto">${c.channel}</dd></div>
      <div><dt>${t('campaigns.segment')}</dt><dd dir="auto">${segmentName(segments, audience.segment)}</dd></div>
      ${excluded.length > 0 && html`<div><dt>${t('campaigns.exclude')}</dt><dd dir="auto">${excluded.join(', ')}</dd></div>`}
      <div><dt>${t('campaigns.when')}</dt><dd>${scheduleText(spec)}</dd></div>
      ${cap && html`<div><dt>${t('campaigns.cap')}</dt><dd>${t('campaigns.cap_value', { messages: num(cap.messages), days: num(cap.days) })}</dd></div>`}
      <div><dt>${t('campaigns.created')}</dt><dd>${dateTime(c.created_at)}${c.created_by ? html` · <bdi dir="auto">${c.created_by}</bdi>` : ''}</dd></div>
      ${c.started_at && html`<div><dt>${t('campaigns.started')}</dt><dd>${dateTime(c.started_at)}</dd></div>`}
      ${c.finished_at && html`<div><dt>${t('campaigns.finished')}</dt><dd>${dateTime(c.finished_at)}</dd></div>`}
    </dl>`;
}

function Counts({ c }) {
  const locale = currentLocale();
  const counts = c.counts || {};
  return html`
    <dl class="reports-counts campaign-counts">
      ${tiles(counts).map((x) => {
        const note = x.share === null ? null : t(SHARE_KEYS[x.key], { percent: percent(x.share, locale) }); // i18n-dynamic
        const tone = x.key === 'failed' && x.n > 0 ? 'danger' : x.key === 'opted_out' && x.n > 0 ? 'warn' : null;
        return html`
          <${Stat} key=${x.key} measure=${x.key} label=${t(MEASURE_KEYS[x.key]) /* i18n-dynamic */} n=${x.n} note=${note} tone=${tone}>
            ${x.key === 'excluded' && html`<${Breakdown} rows=${breakdown(counts.excluded, EXCLUSIONS)}
              label=${t('campaigns.excluded_by_reason')} className="excluded-reasons" labelOf=${reasonLabel} />`}
            ${x.key === 'failed' && html`<${Breakdown} rows=${breakdown(counts.failed_by_code)}
              label=${t('campaigns.failed_by_code')} className="failed-codes"
              labelOf=${(code) => (code === 'unknown' ? t('campaigns.code_unknown') : t('campaigns.code', { code }))} />`}
          <//>`;
      })}
    </dl>`;
}

function Cost({ c }) {
  const locale = currentLocale();
  const cost = (c.counts && c.counts.cost) || {};
  const estimate = c.estimate && c.estimate.cost;
  return html`
    <section class="campaign-section campaign-cost" aria-labelledby="campaign-cost-title">
      <h3 id="campaign-cost-title" class="subheading">${t('campaigns.cost')}</h3>
      <dl class="reports-counts">
        <div class="stat" data-measure="estimated">
          <dt>${t('campaigns.cost_estimated')}</dt>
          <dd class="stat-value">${typeof cost.estimated === 'number' ? money(cost.estimated, cost.currency, locale) : t('common.none')}</dd>
        </div>
        <div class="stat" data-measure="actual">
          <dt>${t('campaigns.cost_actual')}</dt>
          <dd class="stat-value">${money(cost.actual || 0, cost.currency, locale)}</dd>
          <dd class="stat-note">${t('campaigns.cost_actual_hint')}</dd>
        </div>
      </dl>
      ${estimate && costRows(estimate.by_country).length > 0 && html`
        <p class="muted small">${t('campaigns.cost_by_country')}</p>
        <${CostTable} rows=${costRows(estimate.by_country)} currency=${estimate.currency} caption=${t('campaigns.cost_by_country')} />`}
    </section>`;
}

function Csv({ c }) {
  const [csv, setCsv] = useState({ state: 'idle', text: '' });
  const download = async () => {
    const name = `campaign-${c.id}.csv`;
    setCsv({ state: 'busy', text: t('reports.downloading') });
    try {
      const blob = await fetchBlob(`/api/v1/campaigns/${enc(c.id)}/recipients.csv`);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setCsv({ state: 'done', text: t('reports.downloaded', { name }) });
    } catch (err) {
      setCsv({ state: 'failed', text: t('reports.download_failed', { message: err.message }) });
    }
  };
  return html`
    <div class="campaign-csv">
      <button id="campaign-csv" type="button" class="button" disabled=${csv.state === 'busy'} onClick=${download}>
        ${t('campaigns.csv')}
      </button>
      <p id="campaign-csv-status" class="muted small" role="status" data-state=${csv.state}>${csv.text}</p>
    </div>`;
}

function CampaignPage({ id, role, segments, autoPreview, onBack, onEdit }) {
  const [c, setC] = useState(null);
  const [error, setError] = useState(null);
  const [preview, setPreview] = useState({ state: 'idle' });
  const [confirm, setConfirm] = useState(null);
  const [acting, setActing] = useState(null);
  const [actionError, setActionError] = useState(null);
  const alive = useRef(true);
  useEffect(() => () => {
    alive.current = false;
  }, []);

  const load = async () => {
    try {
      const body = await api('GET', `/api/v1/campaigns/${enc(id)}`);
      if (alive.current) {
        setC(body.campaign);
        setError(null);
      }
    } catch (e) {
      if (alive.current) setError(e && e.status === 404 ? t('campaigns.not_found') : explain(e));
    }
  };
  const runPreview = async () => {
    setPreview({ state: 'busy' });
    try {
      const body = await api('POST', `/api/v1/campaigns/${enc(id)}/preview`, {});
      if (alive.current) setPreview({ state: 'ready', data: body.preview });
    } catch (e) {
      if (alive.current) setPreview({ state: 'failed', error: explain(e) });
    }
  };
  useEffect(() => {
    load();
    if (autoPreview && role === 'admin') runPreview();
  }, [id]);
  // While it sends (and for a while after: statuses, replies and opt-outs), ask again every
  // few seconds; leaving the page stops it.
  const live = !!c && isLive(c.state);
  const every = pollInterval(c);
  useEffect(() => {
    if (!every) return undefined;
    const timer = setInterval(load, every);
    return () => clearInterval(timer);
  }, [every, id]);

  const act = async (action) => {
    const answer = await api('POST', `/api/v1/campaigns/${enc(id)}/${action}`, {});
    const moved = answer && answer.campaign;
    if (alive.current && moved) setC(moved);
    // A start or a resume before the start time waits: scheduled.
    const done = moved && moved.state === 'scheduled' ? 'scheduled' : action;
    notify(t(DONE_KEYS[done], { name: c.name }), 'info'); // i18n-dynamic
  };
  const attempt = async (action) => {
    try {
      await act(action);
      return null;
    } catch (e) {
      return explain(e);
    }
  };
  const click = async (action) => {
    setActionError(null);
    if (action === 'preview') return runPreview();
    if (action === 'start' || action === 'cancel') return setConfirm(action);
    setActing(action);
    const why = await attempt(action);
    if (alive.current) {
      setActing(null);
      setActionError(why);
    }
    return undefined;
  };

  if (error && !c) {
    return html`
      <${PageHead} onBack=${onBack} title=${t('campaigns.title')} />
      <div class="error" role="alert"><span dir="auto">${error}</span>
        <button type="button" class="button small" onClick=${load}>${t('common.retry')}</button></div>`;
  }
  if (!c) return html`<${PageHead} onBack=${onBack} title=${t('campaigns.title')} /><p class="muted" role="status">${t('list.loading')}</p>`;

  const actions = actionsFor(c.state, role);
  const eligible = preview.state === 'ready' ? preview.data.eligible : null;
  const startsLater = c.spec && c.spec.schedule && c.spec.schedule.start_at && Date.parse(c.spec.schedule.start_at) > Date.now();
  // A draft's page previews it (admins); one that never started has no counts to show.
  const previewing = c.state === 'draft' && role === 'admin';
  const ran = !!c.started_at || (c.state !== 'draft' && c.state !== 'cancelled');
  let startMessage = eligible === null ? t('campaigns.start_confirm', { name: c.name }) : t('campaigns.start_confirm_count', { name: c.name, count: num(eligible) });
  if (startsLater) startMessage += ' ' + scheduleText(c.spec);
  return html`
    <section id="campaign-page" class="campaign-page" data-id=${c.id} data-state=${c.state} aria-labelledby="campaigns-title">
      <${PageHead} onBack=${onBack} title=${c.name}>
        <${StateBadge} id="campaign-state" state=${c.state} />
        <span class="spacer"></span>
        <div class="campaign-actions">
          ${actions.map((a) => html`
            <button key=${a} id=${a === 'preview' ? 'campaign-preview-open' : 'campaign-' + a} type="button"
              class=${'button' + (a === 'start' ? ' primary' : a === 'cancel' ? ' danger-text' : '')}
              disabled=${acting === a || (a === 'preview' && preview.state === 'busy')} onClick=${() => click(a)}>
              ${a === 'preview' && preview.state === 'ready' ? t('campaigns.action.preview_again') : t(ACTION_KEYS[a]) /* i18n-dynamic */}
            </button>`)}
          ${role === 'admin' && c.state === 'draft' && html`
            <button id="campaign-edit" type="button" class="button" onClick=${() => onEdit(c.spec)}>${t('campaigns.action.edit')}</button>`}
        </div>
      <//>
      ${c.reason && html`
        <p id="campaign-reason" class="campaign-reason" role="status">
          ${icons.failed()}<span><strong>${t('campaigns.reason_title', { state: stateLabel(c.state) })}</strong> <span dir="auto">${c.reason}</span></span>
        </p>`}
      ${actionError && html`<p id="campaign-action-error" class="error" role="alert" dir="auto">${actionError}</p>`}
      ${error && html`<p class="error small" role="status" dir="auto">${error}</p>`}
      <${Facts} c=${c} segments=${segments} />
      ${previewing && html`
        <section id="campaign-preview" class="campaign-section" aria-labelledby="campaign-preview-title" data-state=${preview.state}>
          <h3 id="campaign-preview-title" class="panel-title">${t('campaigns.preview.title')}</h3>
          <p class="muted small">${t('campaigns.preview.intro')}</p>
          ${preview.state === 'idle' && role === 'admin' && html`<p class="muted">${t('campaigns.preview.ask')}</p>`}
          ${preview.state === 'busy' && html`<p class="muted" role="status">${t('campaigns.preview.busy')}</p>`}
          ${preview.state === 'failed' && html`<p class="error" role="alert" dir="auto">${preview.error}</p>`}
          ${preview.state === 'ready' && html`<${PreviewView} p=${preview.data} />`}
          ${preview.state === 'ready' && actions.includes('start') && html`
            <div class="form-actions campaign-review-actions">
              <button type="button" class="button" onClick=${() => onEdit(c.spec)}>${t('campaigns.action.edit')}</button>
              <button type="button" class="button primary" onClick=${() => click('start')}>${t('campaigns.action.start')}</button>
            </div>`}
        </section>`}
      ${!ran && !previewing && html`<p id="campaign-not-started" class="muted">${t('campaigns.not_started')}</p>`}
      ${ran && html`
        <section class="campaign-section" aria-labelledby="campaign-counts-title">
          <h3 id="campaign-counts-title" class="subheading">
            ${t('campaigns.counts')}
            ${live && html` <span class="muted small campaign-live" role="status">${t('campaigns.live')}</span>`}
          </h3>
          ${!c.audience_complete && (c.state === 'running' || c.state === 'paused') && html`<p class="muted small">${t('campaigns.audience_writing')}</p>`}
          <${Counts} c=${c} />
        </section>
        <${Cost} c=${c} />
        <${Csv} c=${c} />`}
      ${confirm === 'start' && html`
        <${ConfirmDialog} title=${t('campaigns.start_title', { name: c.name })} message=${startMessage}
          confirmLabel=${t('campaigns.action.start')} onConfirm=${() => attempt('start')} onClose=${() => setConfirm(null)} />`}
      ${confirm === 'cancel' && html`
        <${ConfirmDialog} title=${t('campaigns.cancel_title', { name: c.name })}
          message=${c.state === 'draft' ? t('campaigns.cancel_draft_confirm') : t('campaigns.cancel_confirm')}
          confirmLabel=${t('campaigns.action.cancel')} danger onConfirm=${() => attempt('cancel')} onClose=${() => setConfirm(null)} />`}
    </section>
  `;
}

function PageHead({ onBack, title, children }) {
  return html`
    <header class="view-head campaign-head">
      <button id="campaign-back" type="button" class="button ghost back-button" onClick=${onBack}>
        ${icons.back()}<span>${t('campaigns.back')}</span>
      </button>
      <h2 id="campaigns-title" class="view-title" tabindex="-1" dir="auto">${title}</h2>
      ${children}
    </header>`;
}

// --- the view --------------------------------------------------------------------------------

export function Campaigns({ s }) {
  const user = currentUser(s) || {};
  const admin = user.role === 'admin';
  const segments = useSegments();
  // `list`, `new` (from: a draft's spec to edit into a new one), or `campaign` (id).
  const [page, setPage] = useState({ kind: 'list' });
  const go = (next) => {
    setPage(next);
    requestAnimationFrame(() => {
      const view = document.getElementById('campaigns');
      if (view) view.scrollTop = 0;
      const title = document.getElementById('campaigns-title');
      if (title) title.focus({ preventScroll: true });
    });
  };
  return html`
    <main id="campaigns" class="view campaigns" aria-labelledby="campaigns-title" data-page=${page.kind}>
      ${page.kind === 'list' && html`
        <${CampaignList} admin=${admin} onOpen=${(id) => go({ kind: 'campaign', id })} onNew=${() => go({ kind: 'new' })} />`}
      ${page.kind === 'new' && admin && html`
        <${CampaignWizard} from=${page.from} segments=${segments} onCancel=${() => go(page.back || { kind: 'list' })}
          onCreated=${(c) => go({ kind: 'campaign', id: c.id, autoPreview: true })} />`}
      ${page.kind === 'campaign' && html`
        <${CampaignPage} key=${page.id} id=${page.id} role=${user.role} segments=${segments} autoPreview=${!!page.autoPreview}
          onBack=${() => go({ kind: 'list' })} onEdit=${(spec) => go({ kind: 'new', from: spec, back: { kind: 'campaign', id: page.id } })} />`}
    </main>
  `;
}
