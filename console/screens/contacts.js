// Contacts (supervisors and admins): every contact, searched, or a saved segment's members
// (docs/CONSOLE_API.md, "Segments"). A segment's editor shows, while its filter is written, how
// many contacts it holds now and the first of them; a filter the server refuses shows why.
// "Import CSV" sends a file as it is (docs/CONSOLE_API.md, `POST /api/v1/contacts/import`),
// then shows what was created, updated, left unchanged and rejected, and offers the rejected
// rows, each with its error, as a CSV to download.
// Admins erase a contact's personal data on request (docs/CONSOLE_API.md, "Erasing a contact"): it
// cannot be undone, so they give a reason and type the contact's name or ERASE first.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { when } from '../lib/format.js';
import { explain, notify } from '../lib/actions.js';
import { api, postFile, query } from '../lib/api.js';
import { ConfirmDialog, currentUser, icons, Modal } from './common.js';

const enc = encodeURIComponent;
const EXAMPLES = [
  "'vip' in contact.tags",
  "contact.language == 'es' && !contact.new",
  'contact.last_inbound_at > now - duration("720h")',
];

/** The live count of a filter being written: asked 400 ms after the last key. */
function useLiveCount(filter) {
  const [state, setState] = useState({ count: null, sample: [], error: null, busy: false });
  const seq = useRef(0);
  useEffect(() => {
    const text = filter.trim();
    const mine = ++seq.current;
    if (!text) {
      setState({ count: null, sample: [], error: null, busy: false });
      return undefined;
    }
    setState((s) => ({ ...s, busy: true }));
    const timer = setTimeout(async () => {
      try {
        const answer = await api('POST', '/api/v1/segments/preview', { filter: text });
        if (mine === seq.current) setState({ count: answer.count, sample: answer.sample || [], error: null, busy: false });
      } catch (e) {
        if (mine === seq.current) setState({ count: null, sample: [], error: explain(e), busy: false });
      }
    }, 400);
    return () => clearTimeout(timer);
  }, [filter]);
  return state;
}

function SegmentEditor({ segment, onClose, onSaved, onDeleted }) {
  const [name, setName] = useState(segment ? segment.name : '');
  const [filter, setFilter] = useState(segment ? segment.filter : '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [confirming, setConfirming] = useState(false);
  const live = useLiveCount(filter);
  const submit = async (e) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const body = { name: name.trim(), filter: filter.trim() };
      const answer = segment
        ? await api('PATCH', `/api/v1/segments/${enc(segment.id)}`, body)
        : await api('POST', '/api/v1/segments', body);
      onSaved(answer.segment);
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    try {
      await api('DELETE', `/api/v1/segments/${enc(segment.id)}`);
      onDeleted(segment);
    } catch (err) {
      setError(explain(err));
    }
  };
  if (confirming) {
    return html`<${ConfirmDialog} title=${t('segments.delete_title')}
      message=${t('segments.delete_confirm', { name: segment.name })} confirmLabel=${t('segments.delete')}
      danger=${true} onConfirm=${remove} onClose=${() => setConfirming(false)} />`;
  }
  return html`
    <${Modal} id="segment-dialog" title=${segment ? t('segments.edit') : t('segments.new')} onClose=${onClose}>
      <form id="segment-form" onSubmit=${submit} novalidate>
        <div class="field">
          <label for="segment-name">${t('segments.name')}</label>
          <input id="segment-name" type="text" required maxlength="100" dir="auto" value=${name}
            onInput=${(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="segment-filter">${t('segments.filter')}</label>
          <textarea id="segment-filter" class="code" rows="4" dir="ltr" spellcheck="false" required
            aria-describedby="segment-filter-hint segment-count" value=${filter}
            onInput=${(e) => setFilter(e.currentTarget.value)}></textarea>
          <p id="segment-filter-hint" class="muted small">${t('segments.filter_hint')}</p>
          <ul class="examples">
            ${EXAMPLES.map((x) => html`<li key=${x}><button type="button" class="link" dir="ltr"
              onClick=${() => setFilter(x)}><code>${x}</code></button></li>`)}
          </ul>
        </div>
        <div id="segment-count" class="live-count" role="status" aria-live="polite">
          ${live.error
            ? html`<p class="error" dir="auto">${live.error}</p>`
            : live.count === null
              ? html`<p class="muted">${live.busy ? t('segments.counting') : t('segments.count_hint')}</p>`
              : html`<p>${t('segments.members')} <strong class="count">${live.count}</strong>
                  ${live.busy && html`<span class="muted small">${t('segments.counting')}</span>`}</p>
                ${live.sample.length > 0 && html`<p class="muted small sample" dir="auto">
                  ${live.sample.map((c) => c.name || c.phone || c.id).join(', ')}</p>`}`}
        </div>
        ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          ${segment && html`<button id="segment-delete" type="button" class="button danger"
            onClick=${() => setConfirming(true)}>${t('segments.delete')}</button>`}
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="segment-save" type="submit" class="button primary" disabled=${busy || !name.trim() || !filter.trim()}>
            ${icons.check()}<span>${t('segments.save')}</span>
          </button>
        </div>
      </form>
    <//>
  `;
}

/** Whether `typed` confirms erasing `c`: its name (when it has one) or ERASE, as shown. */
export function confirmsErase(c, typed) {
  const word = String(typed || '').trim();
  return word === 'ERASE' || (!!c.name && word === String(c.name).trim());
}

function EraseDialog({ c, onClose, onErased }) {
  const [reason, setReason] = useState('');
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const ready = reason.trim() !== '' && confirmsErase(c, typed);
  const submit = async (e) => {
    e.preventDefault();
    if (busy || !ready) return;
    setBusy(true);
    setError(null);
    try {
      await api('POST', `/api/v1/contacts/${enc(c.id)}/erase`, { reason: reason.trim() });
      onErased(c);
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <${Modal} id="erase-dialog" title=${t('contacts.erase_title', { name: c.name || c.phone || c.id })} onClose=${onClose}>
      <form id="erase-form" onSubmit=${submit} novalidate>
        <p class="warning" dir="auto">${t('contacts.erase_warning')}</p>
        <div class="field">
          <label for="erase-reason">${t('contacts.erase_reason')}</label>
          <input id="erase-reason" type="text" required maxlength="500" dir="auto" value=${reason}
            onInput=${(e) => setReason(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="erase-confirm">${t('contacts.erase_type')}</label>
          <input id="erase-confirm" type="text" required autocomplete="off" dir="auto" value=${typed}
            onInput=${(e) => setTyped(e.currentTarget.value)} />
        </div>
        ${error && html`<p id="erase-error" class="error" role="alert" dir="auto">${error}</p>`}
        <div class="form-actions">
          <button type="button" class="button" onClick=${onClose}>${t('common.cancel')}</button>
          <button id="erase-ok" type="submit" class="button danger" disabled=${busy || !ready}
            aria-busy=${busy ? 'true' : 'false'}>${t('contacts.erase')}</button>
        </div>
      </form>
    <//>
  `;
}

function ContactRow({ c, onErase }) {
  return html`
    <li class="contact-row">
      <div class="contact-main">
        <span class="contact-name" dir="auto">${c.name || t('customer.unknown')}</span>
        <span class="muted small" dir="ltr">${c.phone || c.id}</span>
      </div>
      <div class="contact-tags">
        ${(c.tags || []).map((tag) => html`<span key=${tag} class="tag" dir="auto">${tag}</span>`)}
      </div>
      <div class="contact-facts muted small">
        <span>${t('contacts.conversations', { count: c.conversations ?? 0 })}</span>
        <span>${c.last_inbound_at ? t('contacts.last_wrote', { when: when(c.last_inbound_at) }) : t('contacts.never_wrote')}</span>
      </div>
      ${onErase && html`<div class="contact-actions">
        <button type="button" class="button small danger" data-erase=${c.id}
          onClick=${() => onErase(c)}>${t('contacts.erase')}</button>
      </div>`}
    </li>
  `;
}

/** "Import CSV": the chosen file is posted as it is; its counts shown, its rejected rows offered. */
function ImportCsv({ onImported }) {
  const input = useRef(null);
  const [state, setState] = useState(null); // null, { busy }, { result }, { error }, each with the file's name
  const [rejected, setRejected] = useState(null); // an object URL of the rejected rows
  useEffect(() => () => rejected && URL.revokeObjectURL(rejected), [rejected]);
  const chosen = async (e) => {
    const file = e.currentTarget.files && e.currentTarget.files[0];
    e.currentTarget.value = '';
    if (!file) return;
    setRejected(null);
    setState({ busy: true, name: file.name });
    try {
      const result = await postFile('/api/v1/contacts/import', file, 'text/csv');
      if (result.rejected_csv) setRejected(URL.createObjectURL(new Blob([result.rejected_csv], { type: 'text/csv' })));
      setState({ result, name: file.name });
      onImported();
    } catch (err) {
      setState({ error: explain(err), name: file.name });
    }
  };
  const r = state && state.result;
  return html`
    <div class="contacts-import">
      <input ref=${input} id="contact-import-file" type="file" accept=".csv,text/csv" class="visually-hidden"
        tabindex="-1" aria-hidden="true" onChange=${chosen} />
      <button id="contact-import" type="button" class="button" disabled=${Boolean(state && state.busy)}
        onClick=${() => input.current && input.current.click()}>${t('contacts.import')}</button>
      <p id="contact-import-status" class="small" role="status" aria-live="polite">
        ${state && state.busy && html`<span class="muted">${t('contacts.importing', { name: state.name })}</span>`}
        ${r && html`<span>${t('contacts.imported', { name: state.name, created: r.created, updated: r.updated,
          unchanged: r.unchanged, rejected: r.rejected })}</span>`}
        ${rejected && html` <a id="contact-import-rejected" href=${rejected} download="contacts-rejected.csv">${t('contacts.import_rejected')}</a>`}
        ${state && state.error && html`<span class="error">${t('contacts.import_failed', { message: state.error })}</span>`}
      </p>
    </div>
  `;
}

export function Contacts({ s }) {
  const admin = (currentUser(s || {}) || {}).role === 'admin';
  const [erasing, setErasing] = useState(null);
  const [segments, setSegments] = useState([]);
  const [selected, setSelected] = useState(null); // null: every contact
  const [search, setSearch] = useState('');
  const [items, setItems] = useState(null);
  const [next, setNext] = useState(null);
  const [count, setCount] = useState(null);
  const [error, setError] = useState(null);
  const [editing, setEditing] = useState(null); // null, 'new' or a segment
  const loadSegments = async () => {
    try {
      const answer = await api('GET', '/api/v1/segments');
      setSegments(answer.segments || []);
    } catch (e) {
      setError(explain(e));
    }
  };
  const load = async (cursor) => {
    setError(null);
    try {
      const page = selected
        ? await api('GET', `/api/v1/segments/${enc(selected.id)}/contacts` + query({ limit: 50, cursor }))
        : await api('GET', '/api/v1/contacts' + query({ limit: 50, cursor, q: search.trim() || null }));
      setItems((old) => [...(cursor ? old || [] : []), ...((page && page.contacts) || [])]);
      setNext((page && page.next_cursor) || null);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    loadSegments();
  }, []);
  useEffect(() => {
    setCount(null);
    if (selected) {
      api('GET', `/api/v1/segments/${enc(selected.id)}`)
        .then((a) => setCount(a.segment.count))
        .catch((e) => setError(explain(e)));
    }
    const timer = setTimeout(() => load(null), selected ? 0 : 300);
    return () => clearTimeout(timer);
  }, [selected && selected.id, search]);
  const saved = (segment) => {
    setEditing(null);
    notify(t('segments.saved'), 'info');
    loadSegments();
    setSelected(segment);
    setCount(segment.count);
  };
  const erased = (c) => {
    setErasing(null);
    notify(t('contacts.erased'), 'info');
    setItems((old) => (old || []).filter((x) => x.id !== c.id));
  };
  const deleted = () => {
    setEditing(null);
    notify(t('segments.deleted'), 'info');
    setSelected(null);
    loadSegments();
  };
  return html`
    <main id="contacts" class="view contacts-view" aria-labelledby="contacts-title">
      <header class="view-head">
        <h2 id="contacts-title" class="view-title" tabindex="-1">${t('contacts.title')}</h2>
        <${ImportCsv} onImported=${() => load(null)} />
      </header>
      <div class="contacts-layout">
        <nav class="segments" aria-label=${t('segments.title')}>
          <h3 class="panel-title">${t('segments.title')}</h3>
          <ul class="segment-list">
            <li><button id="segment-all" type="button" class="segment-button"
              aria-current=${selected ? undefined : 'true'} onClick=${() => setSelected(null)}>${t('contacts.all')}</button></li>
            ${segments.map((g) => html`
              <li key=${g.id}><button type="button" class="segment-button" data-segment=${g.id}
                aria-current=${selected && selected.id === g.id ? 'true' : undefined}
                onClick=${() => setSelected(g)} dir="auto">${g.name}</button></li>`)}
          </ul>
          <button id="segment-new" type="button" class="button wide" onClick=${() => setEditing('new')}>
            ${icons.plus()}<span>${t('segments.new')}</span>
          </button>
        </nav>
        <div class="contacts-main">
          <div class="contacts-toolbar">
            ${selected
              ? html`<p class="segment-heading"><strong dir="auto">${selected.name}</strong>
                  <code class="muted small" dir="ltr">${selected.filter}</code>
                  ${count !== null && html`<span id="segment-members" class="tag">${t('segments.count', { count })}</span>`}
                  <button id="segment-edit" type="button" class="button small" onClick=${() => setEditing(selected)}>${t('segments.edit')}</button></p>`
              : html`<label for="contact-search" class="visually-hidden">${t('contacts.search')}</label>
                  <input id="contact-search" type="search" placeholder=${t('contacts.search')} value=${search}
                    onInput=${(e) => setSearch(e.currentTarget.value)} />`}
          </div>
          ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
          ${items && items.length === 0 && html`<p class="muted empty">${t('contacts.empty')}</p>`}
          <ul id="contact-list" class="contact-list">
            ${(items || []).map((c) => html`<${ContactRow} key=${c.id} c=${c} onErase=${admin ? setErasing : null} />`)}
          </ul>
          ${next && html`<button type="button" class="button" onClick=${() => load(next)}>${t('contacts.more')}</button>`}
        </div>
      </div>
      ${editing && html`<${SegmentEditor} segment=${editing === 'new' ? null : editing}
        onClose=${() => setEditing(null)} onSaved=${saved} onDeleted=${deleted} />`}
      ${erasing && html`<${EraseDialog} c=${erasing} onClose=${() => setErasing(null)} onErased=${erased} />`}
    </main>
  `;
}
