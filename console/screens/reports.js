// Reports, for supervisors (their teams) and admins (every team): a date range, a time zone and
// a team; the summary's counts and times (count, mean, p50, p90, p99; in calendar time or in the
// teams' business hours) from GET /api/v1/reports/summary (grouped by day, for the chart: an
// inline SVG, no library), a table per agent (grouped by agent: online and away time, occupancy,
// offers, assignments, replies, transfers in and out), and as CSV (fetched with the token) the
// conversations (GET /api/v1/reports/conversations.csv) or the table per day or per agent
// (GET /api/v1/reports/summary.csv).

import { html, useEffect, useState } from '../lib/html.js';
import { t, K, currentLocale } from '../lib/i18n.js';
import { api, fetchBlob, query } from '../lib/api.js';
import { timeZone } from '../lib/format.js';
import { clockDuration } from '../lib/admin-model.js';
import { refreshTeams } from '../lib/actions.js';
import { currentUser } from './common.js';

const COUNTS = [
  ['opened', K('reports.count.opened')],
  ['handed_off', K('reports.count.handed_off')],
  ['resolved_by_bot', K('reports.count.resolved_by_bot')],
  ['resolved_by_agent', K('reports.count.resolved_by_agent')],
  ['abandoned', K('reports.count.abandoned')],
  ['reopened', K('reports.count.reopened')],
  ['transfers', K('reports.count.transfers')],
  ['transfers_in', K('reports.count.transfers_in')],
  ['replies', K('reports.count.replies')],
];
/** The per-agent table's counts, after its presence columns. */
const AGENT_COUNTS = [
  ['offered', K('reports.count.offered')],
  ['assigned', K('reports.count.assigned')],
  ['replies', K('reports.count.replies')],
  ['transfers_in', K('reports.count.transfers_in')],
  ['transfers', K('reports.count.transfers')],
];
const TIMES = [
  ['wait_in_queue', K('reports.time.wait_in_queue')],
  ['first_response', K('reports.time.first_response')],
  ['next_response', K('reports.time.next_response')],
  ['resolution', K('reports.time.resolution')],
  ['handle_time', K('reports.time.handle_time')],
];
const SLA_CLOCKS = [
  ['first_response', K('reports.time.first_response')],
  ['next_response', K('reports.time.next_response')],
  ['resolution', K('reports.time.resolution')],
];
const DAY_MS = 86_400_000;

/** YYYY-MM-DD of `ms` in `tz` (the browser's zone if `tz` is not one). */
function localDay(ms, tz) {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
  } catch {
    return new Date(ms).toISOString().slice(0, 10);
  }
}

/** The day after `day` (YYYY-MM-DD), or null if `day` is not a date. */
function nextDay(day) {
  const ms = Date.parse(day + 'T00:00:00Z');
  return Number.isFinite(ms) ? new Date(ms + DAY_MS).toISOString().slice(0, 10) : null;
}

function browserZone() {
  try {
    return timeZone() || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function zones() {
  try {
    return typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  } catch {
    return [];
  }
}

/** The request's parameters from the form: `to` is inclusive on screen, exclusive for the API. */
function params(form) {
  return { from: form.from, to: nextDay(form.to) || form.to, tz: form.tz.trim() || 'UTC', team: form.team || null };
}

function number(n) {
  return typeof n === 'number' ? new Intl.NumberFormat(currentLocale()).format(n) : t('common.none');
}

/** A time: under a minute in seconds (one decimal), else m:ss or h:mm:ss. */
function seconds(s) {
  if (typeof s !== 'number' || !Number.isFinite(s)) return t('common.none');
  if (s < 60) return t('reports.seconds', { n: new Intl.NumberFormat(currentLocale(), { maximumFractionDigits: 1 }).format(s) });
  return clockDuration(s * 1000);
}

/** Every day from `from` to `to` (YYYY-MM-DD, both included), at most `max`. */
function daysBetween(from, to, max = 400) {
  const out = [];
  for (let d = from; d && d <= to && out.length < max; d = nextDay(d)) out.push(d);
  return out;
}

/** Conversations handed off and resolved by agents, per day of the range (none: 0), as bars. */
function Chart({ groups, from, to }) {
  const byDay = new Map((Array.isArray(groups) ? groups : []).map((g) => [g.key, g]));
  const days = daysBetween(from, to).map((key) => byDay.get(key) || { key, counts: {} });
  if (!days.length) return null;
  const w = 640;
  const h = 200;
  const pad = 24;
  const max = Math.max(1, ...days.flatMap((g) => [g.counts?.handed_off ?? 0, g.counts?.resolved_by_agent ?? 0]));
  const slot = (w - pad * 2) / days.length;
  const bar = Math.max(1, slot * 0.38);
  const every = Math.ceil(days.length / 10);
  const y = (v) => h - pad - ((h - pad * 2) * v) / max;
  return html`
    <figure class="reports-chart">
      <figcaption id="reports-chart-title">${t('reports.chart_title')}</figcaption>
      <svg viewBox=${`0 0 ${w} ${h}`} role="img" aria-labelledby="reports-chart-title" dir="ltr">
        <line x1=${pad} x2=${w - pad} y1=${h - pad} y2=${h - pad} class="axis" />
        <text x=${pad} y=${pad - 8} class="tick">${number(max)}</text>
        ${days.map((g, i) => {
          const handed = g.counts?.handed_off ?? 0;
          const resolved = g.counts?.resolved_by_agent ?? 0;
          const x = pad + i * slot + slot * 0.1;
          return html`
            <g key=${g.key} data-day=${g.key}>
              <title>${t('reports.chart_bar', { day: g.key, handed: number(handed), resolved: number(resolved) })}</title>
              <rect class="bar-handed" x=${x} y=${y(handed)} width=${bar} height=${h - pad - y(handed)} />
              <rect class="bar-resolved" x=${x + bar} y=${y(resolved)} width=${bar} height=${h - pad - y(resolved)} />
              ${i % every === 0 && html`<text x=${x + bar} y=${h - 6} class="tick" text-anchor="middle">${String(g.key).slice(5)}</text>`}
            </g>`;
        })}
      </svg>
      <p class="reports-legend small">
        <span class="swatch bar-handed" aria-hidden="true"></span>${t('reports.count.handed_off')}
        <span class="swatch bar-resolved" aria-hidden="true"></span>${t('reports.count.resolved_by_agent')}
      </p>
    </figure>
  `;
}

/** The share of each SLA clock that stopped within its target (docs/REPORTS.md, "SLAs"). */
function SlaShares({ sla }) {
  return html`
    <section class="reports-section" aria-labelledby="reports-sla-title">
      <h3 id="reports-sla-title" class="subheading">${t('reports.sla')}</h3>
      <dl class="reports-counts">
        ${SLA_CLOCKS.map(([clock, key]) => {
          const f = sla[clock] || {};
          const share = typeof f.share_met === 'number'
            ? new Intl.NumberFormat(currentLocale(), { style: 'percent', maximumFractionDigits: 1 }).format(f.share_met)
            : t('common.none');
          return html`
            <div key=${clock} class="stat" data-sla-clock=${clock}>
              <dt>${t(key) /* i18n-dynamic */}</dt>
              <dd>${share}</dd>
              <dd class="stat-note">${t('reports.sla_counts', { met: number(f.met ?? 0), missed: number(f.missed ?? 0) })}</dd>
            </div>`;
        })}
      </dl>
    </section>
  `;
}

function percent(share) {
  return typeof share === 'number'
    ? new Intl.NumberFormat(currentLocale(), { style: 'percent', maximumFractionDigits: 1 }).format(share)
    : t('common.none');
}

/** One row per agent of the range (docs/REPORTS.md, "Presence"): time online and away,
 * occupancy (load over capacity while online) and the agent's counts. */
function Agents({ report }) {
  const rows = (Array.isArray(report?.groups) ? report.groups : []).filter((g) => g.key);
  return html`
    <section class="reports-section" aria-labelledby="reports-agents-title">
      <h3 id="reports-agents-title" class="subheading">${t('reports.agents')}</h3>
      ${rows.length === 0
        ? html`<p class="muted" id="reports-agents-empty">${t('reports.no_agents')}</p>`
        : html`
          <div class="reports-table-wrap">
            <table class="reports-times reports-agents" id="reports-agents">
              <thead>
                <tr>
                  <th scope="col">${t('reports.agent')}</th>
                  <th scope="col">${t('reports.online')}</th>
                  <th scope="col">${t('reports.away')}</th>
                  <th scope="col">${t('reports.occupancy')}</th>
                  ${AGENT_COUNTS.map(([m, key]) => html`<th key=${m} scope="col">${t(key) /* i18n-dynamic */}</th>`)}
                </tr>
              </thead>
              <tbody>
                ${rows.map((g) => html`
                  <tr key=${g.key} data-agent=${g.key}>
                    <th scope="row"><bdi>${g.key}</bdi></th>
                    <td class="online">${seconds(g.presence?.online_s ?? 0)}</td>
                    <td class="away">${seconds(g.presence?.away_s ?? 0)}</td>
                    <td class="occupancy">${percent(g.presence?.occupancy)}</td>
                    ${AGENT_COUNTS.map(([m]) => html`<td key=${m} class=${m}>${number(g.counts?.[m] ?? 0)}</td>`)}
                  </tr>`)}
              </tbody>
            </table>
          </div>`}
    </section>
  `;
}

function Figures({ report, agents, range }) {
  const [businessHours, setBusinessHours] = useState(false);
  const counts = report.total?.counts || {};
  const times = (businessHours ? report.total?.times_business_hours : report.total?.times) || {};
  const sla = report.total?.sla || {};
  return html`
    <section class="reports-section" aria-labelledby="reports-counts-title">
      <h3 id="reports-counts-title" class="subheading">${t('reports.counts')}</h3>
      <dl class="reports-counts">
        ${COUNTS.map(([m, key]) => html`
          <div key=${m} class="stat" data-measure=${m}>
            <dt>${t(key) /* i18n-dynamic */}</dt>
            <dd>${number(counts[m] ?? 0)}</dd>
          </div>`)}
      </dl>
    </section>
    <section class="reports-section" aria-labelledby="reports-times-title">
      <h3 id="reports-times-title" class="subheading">${t('reports.times')}</h3>
      <label class="reports-toggle">
        <input id="reports-business-hours" type="checkbox" checked=${businessHours}
          onChange=${(e) => setBusinessHours(e.currentTarget.checked)} />
        ${t('reports.business_hours')}
      </label>
      ${businessHours && html`<p class="muted small" id="reports-business-hours-note">${t('reports.business_hours_note')}</p>`}
      <div class="reports-table-wrap">
        <table class="reports-times" id="reports-times" data-hours=${businessHours ? 'business' : 'calendar'}>
          <thead>
            <tr>
              <th scope="col">${t('reports.measure')}</th>
              <th scope="col">${t('reports.count')}</th>
              <th scope="col">${t('reports.mean')}</th>
              <th scope="col">p50</th>
              <th scope="col">p90</th>
              <th scope="col">p99</th>
            </tr>
          </thead>
          <tbody>
            ${TIMES.map(([m, key]) => {
              const f = times[m] || {};
              return html`
                <tr key=${m} data-measure=${m}>
                  <th scope="row">${t(key) /* i18n-dynamic */}</th>
                  <td class="count">${number(f.count ?? 0)}</td>
                  <td class="mean">${seconds(f.mean_s)}</td>
                  <td class="p50">${seconds(f.p50_s)}</td>
                  <td class="p90">${seconds(f.p90_s)}</td>
                  <td class="p99">${seconds(f.p99_s)}</td>
                </tr>`;
            })}
          </tbody>
        </table>
      </div>
      <p class="muted small">${t('reports.error_note', { percent: number((report.relative_error ?? 0.01) * 100) })}</p>
    </section>
    <${SlaShares} sla=${sla} />
    <${Agents} report=${agents} />
    <${Chart} groups=${report.groups} from=${range.from} to=${range.to} />
  `;
}

export function Reports({ s }) {
  const user = currentUser(s) || {};
  const tz0 = browserZone();
  const today = localDay(Date.now(), tz0);
  const [form, setForm] = useState({ from: localDay(Date.now() - 6 * DAY_MS, tz0), to: today, tz: tz0, team: '' });
  const [shown, setShown] = useState(form);
  const [report, setReport] = useState(null);
  const [agents, setAgents] = useState(null);
  const [error, setError] = useState(null);
  const [csv, setCsv] = useState({ state: 'idle', text: '' });

  useEffect(() => {
    if (user.role === 'admin') refreshTeams();
  }, [user.role]);

  useEffect(() => {
    let live = true;
    setError(null);
    const summary = (group) => api('GET', '/api/v1/reports/summary' + query({ ...params(shown), group }));
    Promise.all([summary('day'), summary('agent')])
      .then(([byDay, byAgent]) => {
        if (!live) return;
        setReport(byDay);
        setAgents(byAgent);
      })
      .catch((e) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [shown]);

  const teams = user.role === 'admin'
    ? s.teams.map((team) => team.id)
    : Array.isArray(user.supervises) ? user.supervises : [];
  const field = (name) => (e) => setForm({ ...form, [name]: e.currentTarget.value });
  const submit = (e) => {
    e.preventDefault();
    setShown({ ...form });
  };
  // The conversations, or the summary's table per day or per agent (`group`).
  const download = async (group) => {
    const p = params(shown);
    const name = `${group ? 'summary-' + group : 'conversations'}-${p.from}-${shown.to}.csv`;
    const path = group
      ? '/api/v1/reports/summary.csv' + query({ ...p, group })
      : '/api/v1/reports/conversations.csv' + query(p);
    setCsv({ state: 'busy', text: t('reports.downloading') });
    try {
      const blob = await fetchBlob(path);
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
    <main id="reports" class="view reports" aria-labelledby="reports-title">
      <header class="view-head">
        <h2 id="reports-title" class="view-title" tabindex="-1">${t('reports.title')}</h2>
      </header>
      <form class="reports-form" onSubmit=${submit}>
        <label>${t('reports.from')}
          <input id="reports-from" type="date" required value=${form.from} onInput=${field('from')} />
        </label>
        <label>${t('reports.to')}
          <input id="reports-to" type="date" required value=${form.to} onInput=${field('to')} />
        </label>
        <label>${t('reports.tz')}
          <input id="reports-tz" type="text" list="reports-zones" dir="ltr" autocomplete="off" spellcheck="false"
            value=${form.tz} onInput=${field('tz')} />
        </label>
        <datalist id="reports-zones">${zones().map((z) => html`<option key=${z} value=${z} />`)}</datalist>
        <label>${t('reports.team')}
          <select id="reports-team" value=${form.team} onChange=${field('team')}>
            <option value="">${t('reports.all_teams')}</option>
            ${teams.map((id) => html`<option key=${id} value=${id}>${id}</option>`)}
          </select>
        </label>
        <div class="reports-actions">
          <button id="reports-show" type="submit" class="button primary">${t('reports.show')}</button>
          <button id="reports-csv" type="button" class="button" disabled=${csv.state === 'busy'} onClick=${() => download(null)}>
            ${t('reports.download')}
          </button>
          <button id="reports-csv-days" type="button" class="button" disabled=${csv.state === 'busy'} onClick=${() => download('day')}>
            ${t('reports.download_days')}
          </button>
          <button id="reports-csv-agents" type="button" class="button" disabled=${csv.state === 'busy'} onClick=${() => download('agent')}>
            ${t('reports.download_agents')}
          </button>
        </div>
      </form>
      <p id="reports-csv-status" class="muted small" role="status" data-state=${csv.state}>${csv.text}</p>
      ${error
        ? html`<p class="error" role="alert">${t('reports.failed', { message: error })}</p>`
        : report
          ? html`<${Figures} report=${report} agents=${agents} range=${shown} />`
          : html`<p class="muted">${t('list.loading')}</p>`}
    </main>
  `;
}
