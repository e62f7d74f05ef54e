// The conversation list: tabs (Mine, each team inbox, Waiting), one search box (customer
// name, phone digits, message text) with a filters panel (status, channel, team, assignee,
// tag: what the role may see), and the rows. A search is a list of its own, paged by the
// server's cursor as it scrolls. The rows are virtualized (fixed height: only the visible ones
// and a margin are drawn, plus the focused or open one), so 10,000 stay fast; j/k and the
// arrows move through all of them, not only the drawn ones.

import { html, useEffect, useLayoutEffect, useRef, useState } from '../lib/html.js';
import { t, K } from '../lib/i18n.js';
import { iso, when } from '../lib/format.js';
import { listRows } from '../lib/model.js';
import { filterCount, nearEnd, presenceIn, scrollToShow, SEARCH_STATUSES, slaChangesAt, stepIndex, visibleRange } from '../lib/inbox.js';
import {
  clearSearch,
  currentTab,
  hasMore,
  loadMore,
  loadTab,
  openConversation,
  searchSoon,
  selectTab,
  setFilter,
  setSearch,
  tabs,
} from '../lib/actions.js';
import { channelKindLabel, currentUser, customerName, icons, setListNavigator, SlaBadge, statusLabel, typingText, useWake, viewingText } from './common.js';

/** Row height when the CSS does not say (`--row-height` on `.conversation-list`). */
const DEFAULT_ROW = 78;

/** A tab's element id: `tab-mine`, `tab-team-support`, `tab-waiting`. */
function tabId(key) {
  return 'tab-' + key.replace(/[^A-Za-z0-9_-]/g, '-');
}

function onTabKey(e, all, current) {
  const rtl = document.documentElement.dir === 'rtl';
  const forward = rtl ? 'ArrowLeft' : 'ArrowRight';
  const backward = rtl ? 'ArrowRight' : 'ArrowLeft';
  let i = all.findIndex((x) => x.key === current);
  if (e.key === forward) i = (i + 1) % all.length;
  else if (e.key === backward) i = (i - 1 + all.length) % all.length;
  else if (e.key === 'Home') i = 0;
  else if (e.key === 'End') i = all.length - 1;
  else return;
  e.preventDefault();
  selectTab(all[i].key);
  requestAnimationFrame(() => {
    const el = document.getElementById(tabId(all[i].key));
    if (el) el.focus();
  });
}

function Row({ c, s, index, total, offscreen, now }) {
  const unread = s.unread[c.id] || 0;
  const preview = s.previews[c.id];
  const phone = c.customer && c.customer.phone;
  const name = customerName(c);
  const here = presenceIn(s.activity, c.id);
  const others = [...here.typing, ...here.viewing];
  return html`
    <li class=${'row-item' + (offscreen ? ' kept' : '')} aria-posinset=${index + 1} aria-setsize=${total}>
      <button type="button" class="conversation-row" data-id=${c.id} data-status=${c.status}
        aria-current=${s.openId === c.id ? 'true' : undefined} onClick=${() => openConversation(c.id)}>
        <span class="row-line">
          <span class="row-name" dir="auto">${name}</span>
          <time class="row-time" datetime=${iso(c.updated_at)}>${when(c.updated_at)}</time>
        </span>
        <span class="row-line">
          ${phone && phone !== name ? html`<bdi class="phone" dir="ltr">${phone}</bdi>` : html`<span></span>`}
          <span class="row-tags">
            <span class="row-channel" title=${c.channel || undefined}>${channelKindLabel(c.channel_kind) || c.channel}</span>
            ${others.length > 0 && html`
              <span class=${'row-eye' + (here.typing.length ? ' typing' : '')} title=${others.join(', ')}>${icons.eye()}</span>
              <span class="visually-hidden">${here.typing.length ? typingText(here.typing) : viewingText(here.viewing)}</span>`}
            <${SlaBadge} c=${c} now=${now} compact=${true} />
            <span class=${'status status-' + c.status}>${statusLabel(c.status)}</span>
            ${unread > 0 && html`
              <span class="badge" aria-hidden="true">${unread}</span>
              <span class="visually-hidden">${t('list.unread', { count: unread })}</span>`}
          </span>
        </span>
        <span class="row-preview" dir="auto">${preview && preview.text ? preview.text : ''}</span>
      </button>
    </li>
  `;
}

function rowHeightOf(el) {
  if (!el) return DEFAULT_ROW;
  const v = parseFloat(getComputedStyle(el).getPropertyValue('--row-height'));
  return v > 0 ? v : DEFAULT_ROW;
}

/** The virtualized rows, their scroll, and moving through them with the keyboard. */
function Rows({ s, rows, entry, tab, labelledBy }) {
  const ref = useRef(null);
  const [scroll, setScroll] = useState({ top: 0, height: 600, row: DEFAULT_ROW });
  const [keepId, setKeepId] = useState(null);
  const frame = useRef(0);
  const pending = useRef(null);
  const more = hasMore(entry);

  const measure = () => {
    const el = ref.current;
    if (!el) return;
    const next = { top: el.scrollTop, height: el.clientHeight, row: rowHeightOf(el) };
    setScroll((old) => (old.top === next.top && old.height === next.height && old.row === next.row ? old : next));
  };

  useLayoutEffect(() => {
    measure();
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return undefined;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // A new tab or search starts at its top.
  useLayoutEffect(() => {
    if (ref.current) ref.current.scrollTop = 0;
    measure();
  }, [tab.key]);

  // Scrolled near the end (or the rows do not fill the pane): the next page.
  useEffect(() => {
    if (more && !entry.loading && !entry.loadingMore && nearEnd(scroll.top, scroll.height, scroll.row, rows.length)) loadMore(tab);
  }, [more, rows.length, scroll.top, scroll.height, entry && entry.loading, entry && entry.loadingMore]);

  const onScroll = () => {
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(measure);
  };

  const openIndex = s.openId ? rows.findIndex((c) => c.id === s.openId) : -1;
  const keepIndex = keepId ? rows.findIndex((c) => c.id === keepId) : -1;
  const range = visibleRange(rows.length, scroll.row, scroll.top, scroll.height, 8, keepIndex >= 0 ? keepIndex : openIndex);
  // SLA badges change with the time: wake when the first drawn row's clock turns.
  let wake = null;
  for (let i = range.start; i < range.end && i < rows.length; i++) {
    const at = slaChangesAt(rows[i], Date.now());
    if (at !== null && (wake === null || at < wake)) wake = at;
  }
  const now = useWake(wake);

  // j/k and the arrows: through every row, drawn or not; the row is scrolled into view first.
  const focusRow = (index) => {
    const el = ref.current;
    const c = rows[index];
    if (!el || !c) return;
    const top = scrollToShow(index, scroll.row, el.scrollTop, el.clientHeight);
    if (top !== null) el.scrollTop = top;
    setKeepId(c.id);
    measure();
    // Keys pressed before the row is drawn and focused move on from it, not from the old one.
    pending.current = c.id;
    requestAnimationFrame(() => {
      const row = el.querySelector(`.conversation-row[data-id="${CSS.escape(c.id)}"]`);
      if (row) row.focus({ preventScroll: true });
      if (pending.current === c.id) pending.current = null;
    });
  };
  const indexOfFocus = () => {
    const active = document.activeElement;
    const id = pending.current || (active && active.dataset ? active.dataset.id : null);
    const i = id ? rows.findIndex((c) => c.id === id) : -1;
    return i >= 0 ? i : openIndex;
  };
  setListNavigator({
    move: (step) => focusRow(stepIndex(indexOfFocus(), step, rows.length)),
    focus: () => focusRow(openIndex >= 0 ? openIndex : 0),
  });
  useEffect(() => () => setListNavigator(null), []);

  const onKeyDown = (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const steps = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    if (e.key in steps) {
      e.preventDefault();
      focusRow(stepIndex(indexOfFocus(), steps[e.key], rows.length));
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      focusRow(e.key === 'Home' ? 0 : rows.length - 1);
    }
  };

  const drawn = [];
  const total = more ? -1 : rows.length;
  if (range.keep >= 0 && range.keep < range.start) drawn.push(range.keep);
  for (let i = range.start; i < range.end; i++) drawn.push(i);
  if (range.keep >= range.end) drawn.push(range.keep);
  // A row drawn out of its place (kept for the focus) takes no room: the padding counts it.
  const outside = (i) => i < range.start || i >= range.end;
  return html`
    <div id="conversation-list" class="conversation-list" ref=${ref} onScroll=${onScroll} onKeyDown=${onKeyDown}
      role=${labelledBy ? 'tabpanel' : 'region'} aria-labelledby=${labelledBy}
      aria-label=${labelledBy ? undefined : t('list.results')}
      aria-busy=${entry && entry.loading ? 'true' : 'false'}>
      <ul class="rows" aria-label=${t('list.rows', { count: rows.length })}
        style=${{ '--before': range.before + 'px', '--after': range.after + 'px' }}>
        ${drawn.map((i) => html`
          <${Row} key=${rows[i].id} c=${rows[i]} s=${s} index=${i} total=${total} offscreen=${outside(i)} now=${now} />`)}
      </ul>
      ${entry && entry.loadingMore && html`<p class="list-more muted" role="status">${t('list.loading_more')}</p>`}
    </div>
  `;
}

/** Agents the user may pick in the assignee filter: those of the teams they supervise (an admin: all). */
function assigneeChoices(s, user) {
  if (!user || (user.role !== 'admin' && user.role !== 'supervisor')) return [];
  const seen = new Map();
  for (const team of s.teams) {
    if (user.role !== 'admin' && !(user.supervises || []).includes(team.id)) continue;
    for (const a of team.agents || []) if (a && a.id && a.id !== user.id) seen.set(a.id, a.name || a.id);
  }
  return [...seen].sort((a, b) => a[1].localeCompare(b[1]));
}

const STATUS_FILTER_KEYS = {
  waiting: K('status.waiting'),
  assigned: K('status.assigned'),
  snoozed: K('status.snoozed'),
  resolved: K('status.resolved'),
  bot: K('status.bot'),
};

function Filters({ s }) {
  const f = s.filters || {};
  const user = currentUser(s);
  const agents = assigneeChoices(s, user);
  const channels = [...new Set(Object.values(s.conversations).slice(0, 2000).map((c) => c && c.channel).filter(Boolean))].sort();
  const select = (key, label, options) => html`
    <div class="filter">
      <label for=${'filter-' + key}>${label}</label>
      <select id=${'filter-' + key} value=${f[key] || ''} onChange=${(e) => setFilter(key, e.currentTarget.value)}>
        <option value="">${t('filters.any')}</option>
        ${options.map(([v, text]) => html`<option key=${v} value=${v}>${text}</option>`)}
      </select>
    </div>`;
  return html`
    <div id="filters" class="list-filters" role="group" aria-label=${t('filters.title')}>
      ${select('status', t('filters.status'), SEARCH_STATUSES.map((x) => [x, t(STATUS_FILTER_KEYS[x])]))/* i18n-dynamic */}
      <div class="filter">
        <label for="filter-channel">${t('filters.channel')}</label>
        <input id="filter-channel" type="text" list="filter-channels" autocomplete="off" dir="auto" value=${f.channel || ''}
          onInput=${(e) => setFilter('channel', e.currentTarget.value)} />
        <datalist id="filter-channels">${channels.map((x) => html`<option key=${x} value=${x}></option>`)}</datalist>
      </div>
      ${s.teams.length > 0 && select('team', t('filters.team'), s.teams.map((x) => [x.id, x.name || x.id]))}
      ${select('assignee', t('filters.assignee'), [['me', t('filters.me')], ['unassigned', t('filters.unassigned')], ...agents])}
      <div class="filter">
        <label for="filter-tag">${t('filters.tag')}</label>
        <input id="filter-tag" type="text" autocomplete="off" dir="auto" value=${f.tag || ''}
          onInput=${(e) => setFilter('tag', e.currentTarget.value)} />
      </div>
    </div>
  `;
}

export function ConversationList({ s }) {
  const all = tabs();
  const tab = currentTab();
  const searching = !!tab.search;
  const [showFilters, setShowFilters] = useState(false);
  useEffect(() => {
    // A search runs once the typing pauses; a tab loads at once (if not loaded yet).
    if (tab.search) searchSoon();
    else loadTab(tab);
  }, [tab.key]);
  const entry = s.lists[tab.key];
  const rows = listRows(s, tab);
  const count = filterCount(s.filters);
  let empty = null;
  if (!rows.length) {
    if (!entry || entry.loading) empty = t('list.loading');
    else if (!entry.error) empty = searching ? t('list.no_match') : t('list.empty');
  }
  return html`
    <div class="list">
      <div class="list-search">
        <label for="search" class="visually-hidden">${t('list.search_label')}</label>
        <input id="search" type="search" autocomplete="off" dir="auto" enterkeyhint="search"
          placeholder=${t('list.search_placeholder')} value=${s.search}
          onInput=${(e) => setSearch(e.currentTarget.value)}
          onKeyDown=${(e) => {
            if (e.key === 'Escape' && (s.search || count)) {
              e.preventDefault();
              clearSearch();
            }
          }} />
        <button id="filters-toggle" type="button" class="icon-button filters-toggle" aria-expanded=${showFilters ? 'true' : 'false'}
          aria-controls="filters" aria-label=${count ? t('filters.toggle_count', { count }) : t('filters.toggle')}
          onClick=${() => setShowFilters(!showFilters)}>
          ${icons.filter()}
          ${count > 0 && html`<span class="badge" aria-hidden="true">${count}</span>`}
        </button>
      </div>
      ${showFilters && html`<${Filters} s=${s} />`}
      ${searching
        ? html`
          <div class="list-caption">
            <p role="status">${entry && !entry.loading ? (hasMore(entry) ? t('list.results_more', { count: rows.length }) : t('list.results_count', { count: rows.length })) : t('list.searching')}</p>
            <button id="search-clear" type="button" class="button ghost small" onClick=${clearSearch}>${t('list.clear_search')}</button>
          </div>`
        : html`
          <div class="tabs" role="tablist" aria-label=${t('list.tabs')}>
            ${all.map((x) => html`
              <button key=${x.key} type="button" role="tab" id=${tabId(x.key)} class="tab"
                aria-selected=${x.key === tab.key ? 'true' : 'false'} aria-controls="conversation-list"
                tabindex=${x.key === tab.key ? 0 : -1}
                onKeyDown=${(e) => onTabKey(e, all, tab.key)}
                onClick=${() => selectTab(x.key)}>
                ${x.labelKey ? t(x.labelKey) /* i18n-dynamic */ : html`<span dir="auto">${x.label}</span>`}
              </button>`)}
          </div>`}
      ${entry && entry.error && html`
        <div class="error" role="alert">
          ${entry.error}
          <button type="button" class="button" onClick=${() => (rows.length && hasMore(entry) ? loadMore(tab) : loadTab(tab, true))}>${t('common.retry')}</button>
        </div>`}
      <${Rows} s=${s} rows=${rows} entry=${entry} tab=${tab} labelledBy=${searching ? undefined : tabId(tab.key)} />
      ${empty && html`<p class="list-empty muted">${empty}</p>`}
    </div>
  `;
}
