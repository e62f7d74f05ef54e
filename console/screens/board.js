// The supervisor's board: per team (GET /api/v1/teams) the queue (its depth, the oldest wait,
// ticking, each waiting conversation: a click opens it in the inbox) and the agents (presence,
// time in that presence, load out of capacity; a supervisor of the team or an admin can set their presence). Reloaded
// every 5 s while shown, and soon after a presence.changed event (lib/actions.js).

import { html, useEffect } from '../lib/html.js';
import { t } from '../lib/i18n.js';
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

function AgentRow({ team, agent, manages, now }) {
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
    </li>
  `;
}

function TeamCard({ s, team, user, now }) {
  const wait = oldestWait(team, now);
  const known = team.queue_length !== null && team.queue_length !== undefined;
  const queue = Array.isArray(team.queue) ? team.queue : [];
  const agents = Array.isArray(team.agents) ? team.agents : [];
  const manages = managesTeam(user, team.id);
  const online = agents.filter((a) => a.presence === 'online').length;
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
      </dl>
      ${known && html`
        <h4 class="subheading">${t('board.waiting')}</h4>
        ${queue.length
          ? html`
            <ol class="board-queue">
              ${queue.slice(0, QUEUE_SHOWN).map((id) => {
                const c = s.conversations[id];
                return html`
                  <li key=${id}>
                    <button type="button" class="board-queue-item" data-id=${id} onClick=${() => openConversation(id)}
                      aria-label=${t('board.open', { name: c ? customerName(c) : id })}>
                      ${c && html`<span class="board-queue-name" dir="auto">${customerName(c)}</span>`}
                      <code class="board-queue-id">${id}</code>
                    </button>
                  </li>`;
              })}
            </ol>
            ${queue.length > QUEUE_SHOWN && html`<p class="muted small">${t('board.more', { count: queue.length - QUEUE_SHOWN })}</p>`}`
          : html`<p class="muted small">${t('board.queue_empty')}</p>`}`}
      <h4 class="subheading">${t('board.agents')}</h4>
      ${agents.length
        ? html`<ul class="board-agents">${agents.map((a) => html`<${AgentRow} key=${a.id} team=${team} agent=${a} manages=${manages} now=${now} />`)}</ul>`
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
