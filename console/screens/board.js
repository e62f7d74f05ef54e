// The supervisor's board: per team (GET /api/v1/teams) the queue (its depth, the oldest wait,
// ticking, the open conversations with an SLA clock at risk or overdue, each waiting conversation
// with its wait: a click opens it in the inbox) and the agents (presence, time in that presence,
// load out of capacity, the conversations they hold; a supervisor of the team or an admin can set
// their presence). Reloaded every 5 s while shown, and soon after a presence.changed or
// conversation.sla_breached event (lib/actions.js).

import { html, useEffect } from '../lib/html.js';
import { K, t } from '../lib/i18n.js';
import { dateTime, time } from '../lib/format.js';
import { refreshTeams, openConversation } from '../lib/actions.js';
import { forcePresence } from '../lib/admin.js';
import { boardTotals, clockDuration, oldestWait, timeInStatus } from '../lib/admin-model.js';
import { managesTeam } from '../lib/model.js';
import { currentUser, customerName, icons, presenceLabel, useNow } from './common.js';

const REFRESH_MS = 5000;
const PRESENCES = ['online', 'away', 'offline'];
/** Queued conversations shown per team; the rest as a count. */
const QUEUE_SHOWN = 25;

function useBoardRefresh() {
  useEffect(() => {
    refreshTeams();
    const id = setInterval(() => {
      if (!document.hidden) refreshTeams();
    }, REFRESH_MS);
    const onVisible = () => {
      if (!document.hidden) refreshTeams();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(id);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, []);
}

/** An SLA state of the board (`at_risk`, `breached`) as a small tag; nothing when on track. */
function SlaTag({ sla }) {
  if (sla !== 'at_risk' && sla !== 'breached') return null;
  const key = sla === 'at_risk' ? K('sla.short_at_risk') : K('sla.short_breached');
  return html`<span class=${'sla sla-' + sla}>${t(key) /* i18n-dynamic */}</span>`;
}

/** The conversations an agent holds in the team (listed to those who see its queue). */
function Held({ s, agent }) {
  const held = Array.isArray(agent.conversations) ? agent.conversations : [];
  if (!held.length) return null;
  return html`
    <ul class="board-held" aria-label=${t('board.held', { name: agent.name || agent.id })}>
      ${held.map((h) => {
        const c = s.conversations[h.id];
        const name = c ? customerName(c) : h.id;
        return html`
          <li key=${h.id}>
            <button type="button" class="board-held-item" data-id=${h.id} data-sla=${h.sla || ''}
              onClick=${() => openConversation(h.id)} aria-label=${t('board.open', { name })}>
              <span class="board-held-name" dir="auto">${name}</span>
              ${h.state === 'offered' && html`<span class="tag">${t('board.offered')}</span>`}
              <${SlaTag} sla=${h.sla} />
            </button>
          </li>`;
      })}
    </ul>`;
}

function AgentRow({ s, team, agent, manages, now }) {
  const name = agent.name || agent.id;
  const inStatus = timeInStatus(agent, now);
  const selectId = `force-${team.id}-${agent.id}`.replace(/[^A-Za-z0-9_-]/g, '-');
  const capacity = agent.capacity ?? 0;
  const load = agent.load ?? 0;
  return html`
    <li class="board-agent" data-id=${agent.id} data-presence=${agent.presence}>
      <span class="dot" aria-hidden="true"></span>
      <span class="board-agent-name" dir="auto">${name}</span>
      <span class="board-since clock" title=${inStatus === null ? '' : t('board.since', { time: dateTime(agent.presence_since) })}>
        ${inStatus === null ? t('common.none') : clockDuration(inStatus)}
      </span>
      <span class="board-load" title=${t('top.load_title')}>
        <meter min="0" max=${Math.max(capacity, 1)} value=${load} high=${Math.max(capacity, 1)} aria-hidden="true"></meter>
        <span>${t('board.load', { load, capacity })}</span>
      </span>
      ${manages
        ? html`
          <label for=${selectId} class="visually-hidden">${t('board.force_label', { name })}</label>
          <select id=${selectId} class="force-presence" value=${agent.presence}
            onChange=${(e) => forcePresence(agent.id, e.currentTarget.value)}>
            ${PRESENCES.map((p) => html`<option key=${p} value=${p}>${presenceLabel(p)}</option>`)}
          </select>`
        : html`<span class="board-presence">${presenceLabel(agent.presence)}</span>`}
      <${Held} s=${s} agent=${agent} />
    </li>
  `;
}

/** The queue's head with each one's arrival (`waiting`), or its ids alone from an older gateway. */
function waitingOf(team) {
  if (Array.isArray(team.waiting) && team.waiting.length) return team.waiting;
  return (Array.isArray(team.queue) ? team.queue : []).map((id) => ({ id, since: null, sla: null }));
}

function TeamCard({ s, team, user, now }) {
  const wait = oldestWait(team, now);
  const known = team.queue_length !== null && team.queue_length !== undefined;
  const waiting = waitingOf(team);
  const agents = Array.isArray(team.agents) ? team.agents : [];
  const manages = managesTeam(user, team.id);
  const online = agents.filter((a) => a.presence === 'online').length;
  const sla = team.sla && typeof team.sla === 'object' ? team.sla : null;
  const headingId = 'board-team-' + String(team.id).replace(/[^A-Za-z0-9_-]/g, '-');
  return html`
    <section class="board-team" data-id=${team.id} aria-labelledby=${headingId}>
      <header class="board-team-head">
        <h3 id=${headingId} dir="auto">${team.name || team.id}</h3>
        ${team.private && html`<span class="tag">${t('board.private')}</span>`}
      </header>
      <dl class="board-stats">
        <div class="stat">
          <dt>${t('board.queue')}</dt>
          <dd class="queue-length">${known ? team.queue_length : t('common.none')}</dd>
        </div>
        <div class=${'stat' + (wait !== null && wait >= 120_000 ? ' stat-warn' : '')}>
          <dt>${t('board.oldest_wait')}</dt>
          <dd class="oldest-wait"><span class="clock">${wait === null ? t('common.none') : clockDuration(wait)}</span></dd>
        </div>
        <div class="stat">
          <dt>${t('board.online')}</dt>
          <dd>${t('board.online_count', { online, total: agents.length })}</dd>
        </div>
        ${sla && html`
          <div class=${'stat' + (sla.at_risk > 0 ? ' stat-warn' : '')}>
            <dt>${t('board.sla_at_risk')}</dt>
            <dd class="sla-at-risk">${sla.at_risk}</dd>
          </div>
          <div class=${'stat' + (sla.breached > 0 ? ' stat-danger' : '')}>
            <dt>${t('board.sla_breached')}</dt>
            <dd class="sla-breached-count">${sla.breached}</dd>
          </div>`}
      </dl>
      ${known && html`
        <h4 class="subheading">${t('board.waiting')}</h4>
        ${waiting.length
          ? html`
            <ol class="board-queue">
              ${waiting.slice(0, QUEUE_SHOWN).map((w) => {
                const c = s.conversations[w.id];
                const waited = typeof w.since === 'number' ? Math.max(0, now - w.since) : null;
                return html`
                  <li key=${w.id}>
                    <button type="button" class="board-queue-item" data-id=${w.id} data-sla=${w.sla || ''}
                      onClick=${() => openConversation(w.id)}
                      aria-label=${t('board.open', { name: c ? customerName(c) : w.id })}>
                      ${c && html`<span class="board-queue-name" dir="auto">${customerName(c)}</span>`}
                      <code class="board-queue-id">${w.id}</code>
                      <span class="spacer"></span>
                      <${SlaTag} sla=${w.sla} />
                      ${waited !== null && html`<span class="board-queue-wait clock" title=${t('board.waiting_since', { time: dateTime(w.since) })}>${clockDuration(waited)}</span>`}
                    </button>
                  </li>`;
              })}
            </ol>
            ${team.queue_length > QUEUE_SHOWN && html`<p class="muted small">${t('board.more', { count: team.queue_length - QUEUE_SHOWN })}</p>`}`
          : html`<p class="muted small">${t('board.queue_empty')}</p>`}`}
      <h4 class="subheading">${t('board.agents')}</h4>
      ${agents.length
        ? html`<ul class="board-agents">${agents.map((a) => html`<${AgentRow} key=${a.id} s=${s} team=${team} agent=${a} manages=${manages} now=${now} />`)}</ul>`
        : html`<p class="muted small">${t('board.no_agents')}</p>`}
    </section>
  `;
}

export function Board({ s }) {
  useBoardRefresh();
  const now = useNow(true);
  const user = currentUser(s);
  const totals = boardTotals(s.teams);
  return html`
    <main id="board" class="view board" aria-labelledby="board-title">
      <header class="view-head">
        <h2 id="board-title" class="view-title" tabindex="-1">${t('board.title')}</h2>
        <p class="muted board-totals">
          ${t('board.totals', { waiting: totals.waiting, online: totals.online, agents: totals.agents })}
        </p>
        <span class="spacer"></span>
        ${s.teamsAt > 0 && html`<span class="muted small">${t('board.updated', { time: time(s.teamsAt) })}</span>`}
        <button id="board-refresh" type="button" class="icon-button" aria-label=${t('board.refresh')} onClick=${refreshTeams}>
          ${icons.refresh()}
        </button>
      </header>
      ${s.teams.length
        ? html`<div class="board-teams">${s.teams.map((team) => html`<${TeamCard} key=${team.id} s=${s} team=${team} user=${user} now=${now} />`)}</div>`
        : html`<p class="muted center board-empty">${s.teamsAt > 0 ? t('board.no_teams') : t('list.loading')}</p>`}
    </main>
  `;
}
