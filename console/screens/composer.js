// The composer: Enter sends, Shift+Enter is a new line, the Note toggle writes an internal
// note instead, and `/` at the start picks a quick reply. Who may not reply (not holding the
// conversation) writes notes only, if their role lets them (`may`: conversationPermissions).
// The channel's messaging window (Meta's 24 hours; on a page approved for HUMAN_AGENT, 7 days
// of tagged replies after them): a notice when it has closed (free text is refused then:
// notes stay, and the composer starts in note mode), a softer one in its last hour and while
// replies go tagged; a warning when
// someone else is typing here; my typing is told to the server (lib/actions.js activity).
// A reply can carry a file: picked, dropped on the composer or pasted (an image); it is
// previewed, the text becomes its caption, and the upload shows its progress.
// On WhatsApp a template can always be sent (Template, screens/template.js), and is offered in
// the notice once the window has closed: templates are what goes after it.

import { html, useEffect, useRef, useState } from '../lib/html.js';
import { t } from '../lib/i18n.js';
import { activity, explain, loadQuickReplies, send, sendAttachment, sendQuickReply } from '../lib/actions.js';
import { presenceIn, replyWindow, windowChangesAt } from '../lib/inbox.js';
import { dateTime, time } from '../lib/format.js';
import { channelKindLabel, composerControl, focusList, icons, listNames, myId } from './common.js';
import { AttachmentPreview } from './media.js';
import { TemplateDialog } from './template.js';

/** What the file picker offers: the types WhatsApp takes (the server checks the bytes). */
const ACCEPT = 'image/jpeg,image/png,image/webp,video/mp4,video/3gpp,audio/aac,audio/amr,audio/mpeg,audio/mp4,audio/ogg,'
  + 'application/pdf,text/plain,.doc,.docx,.xls,.xlsx,.ppt,.pptx';

/** Unsent text per user and conversation, kept while the tab lives. */
const drafts = new Map();

export function Composer({ s, id, c, may }) {
  const draftKey = myId(s) + '/' + id;
  const [text, setTextState] = useState(drafts.get(draftKey) || '');
  const [noteChosen, setNote] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [pick, setPick] = useState(0);
  const [dismissed, setDismissed] = useState(false);
  const [, setTick] = useState(0);
  const now = Date.now();
  const win = replyWindow(c, now);
  const changesAt = windowChangesAt(c, now);
  // The notice follows the clock: looked at again when the window's state changes.
  useEffect(() => {
    if (changesAt === null) return undefined;
    const id = setTimeout(() => setTick((n) => n + 1), Math.min(2 ** 31 - 1, Math.max(1000, changesAt - Date.now() + 500)));
    return () => clearTimeout(id);
  }, [changesAt]);
  // A closed window: free text would be refused, so the composer writes a note unless asked.
  useEffect(() => {
    if (win.state === 'closed') setNote(true);
  }, [win.state]);
  const typing = presenceIn(s.activity, id).typing;
  const [file, setFile] = useState(null);
  const [progress, setProgress] = useState(null);
  const [dragging, setDragging] = useState(false);
  const picker = useRef(null);
  const [templating, setTemplating] = useState(false);

  const mine = !!may && may.reply;
  const note = noteChosen || !mine;
  const canSend = mine || (!!may && may.note);
  // `r` and `n` (workspace.js): reply or note. Reply only where the user may.
  composerControl.current = (wantNote) => setNote(!!wantNote || !mine);
  useEffect(() => () => {
    composerControl.current = null;
  }, []);
  const canAttach = mine && !note;
  const canTemplate = mine && !!c && c.channel_kind === 'whatsapp';
  const slash = text.startsWith('/') && !text.includes('\n');
  const picking = slash && !dismissed && !busy;
  const filter = slash ? text.slice(1).trim().toLowerCase() : '';
  const replies = picking && s.quickReplies
    ? s.quickReplies.filter(
        (q) => q.shortcut.toLowerCase().includes(filter) || (q.title || '').toLowerCase().includes(filter),
      )
    : [];
  const index = Math.min(pick, Math.max(0, replies.length - 1));

  useEffect(() => {
    if (picking) loadQuickReplies();
  }, [picking]);

  const setText = (value) => {
    setTextState(value);
    if (value) drafts.set(draftKey, value);
    else drafts.delete(draftKey);
    setDismissed(false);
    setPick(0);
  };

  const onInput = (value) => {
    setText(value);
    if (!note && value) activity('input');
    else if (!value) activity('stop');
  };

  const run = async (work) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      setText('');
      activity('stop');
      setFile(null);
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
      setProgress(null);
    }
  };

  const submit = () => {
    const body = text.trim();
    if (busy || !canSend) return;
    if (file && canAttach) {
      setProgress(0);
      run(() => sendAttachment(id, file, body, setProgress));
      return;
    }
    if (!body) return;
    run(() => send(id, body, note));
  };

  const attach = (f) => {
    if (!f || !canAttach) return;
    setError(null);
    setFile(f);
  };
  const firstFile = (list) => (list && list.length ? list[0] : null);
  const onDragOver = (e) => {
    if (!canAttach || !e.dataTransfer || !Array.from(e.dataTransfer.types || []).includes('Files')) return;
    e.preventDefault();
    setDragging(true);
  };
  const onDrop = (e) => {
    setDragging(false);
    const f = e.dataTransfer && firstFile(e.dataTransfer.files);
    if (!f || !canAttach) return;
    e.preventDefault();
    attach(f);
  };
  const onPaste = (e) => {
    const files = e.clipboardData ? Array.from(e.clipboardData.files || []) : [];
    const image = files.find((f) => String(f.type).startsWith('image/'));
    if (!image || !canAttach) return;
    e.preventDefault();
    attach(image);
  };

  const choose = (q) => {
    if (!q) return;
    if (note || !mine) {
      // Notes take text: the reply's text goes into the box, to edit and add.
      setText(q.text || '');
      setDismissed(true);
      return;
    }
    run(() => sendQuickReply(id, q.shortcut));
  };

  const onKeyDown = (e) => {
    if (e.isComposing || e.keyCode === 229) return;
    if (picking && replies.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setPick((index + step + replies.length) % replies.length);
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        e.preventDefault();
        choose(replies[index]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setDismissed(true);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.currentTarget.blur();
      focusList();
    }
  };

  const rows = Math.min(6, Math.max(2, text.split('\n').length));
  const showList = picking && s.quickReplies;
  if (c && !canSend) {
    return html`<div class="composer composer-readonly"><p class="hint">${t('composer.read_only')}</p></div>`;
  }
  const dialog = templating && canTemplate && html`<${TemplateDialog} c=${c} onClose=${() => setTemplating(false)} />`;
  return html`
    <form class="composer" data-note=${note ? 'true' : 'false'} data-dragging=${dragging ? 'true' : 'false'}
      onSubmit=${(e) => { e.preventDefault(); submit(); }}
      onDragOver=${onDragOver} onDragLeave=${() => setDragging(false)} onDrop=${onDrop}>
      ${showList && html`
        <div class="quick-replies">
          ${replies.length
            ? html`
              <ul id="quick-replies" role="listbox" aria-label=${t('composer.quick_replies')}>
                ${replies.map((q, i) => html`
                  <li key=${q.shortcut} id=${'quick-reply-' + i} role="option" class="quick-reply"
                    aria-selected=${i === index ? 'true' : 'false'}
                    onMouseDown=${(e) => e.preventDefault()} onClick=${() => choose(q)}>
                    <span class="quick-reply-head"><strong dir="ltr">/${q.shortcut}</strong> <span dir="auto">${q.title || ''}</span></span>
                    <span class="quick-reply-text" dir="auto">${q.text || ''}</span>
                  </li>`)}
              </ul>`
            : html`<p class="muted">${t('composer.no_quick_replies')}</p>`}
        </div>`}
      ${!mine && c && html`<p class="hint">${c.assignee === myId(s) ? t('composer.not_open') : t('composer.not_yours')}</p>`}
      ${mine && win.state !== 'unknown' && (win.state !== 'open' || win.tagged) && html`
        <p id="window-notice" class="window-notice" data-state=${win.state === 'open' ? 'tagged' : win.state} role="status">
          ${windowNotice(win, channelKindLabel(c.channel_kind) || 'WhatsApp')}
          ${canTemplate && win.state === 'closed' && html`
            <button id="template-cta" type="button" class="button primary template-cta" onClick=${() => setTemplating(true)}>
              ${t('composer.template_cta')}
            </button>`}
        </p>`}
      ${typing.length > 0 && html`
        <p id="typing-warning" class="typing-warning" role="status" dir="auto">${typing.length > 1 ? t('composer.others_typing_many', { names: listNames(typing) }) : t('composer.others_typing', { names: listNames(typing) })}</p>`}
      ${error && html`<p class="error" role="alert" dir="auto">${error}</p>`}
      ${file && canAttach && html`<${AttachmentPreview} file=${file} progress=${progress} onRemove=${() => setFile(null)} />`}
      <div class="composer-row">
        <label class="note-toggle">
          <input id="note-mode" type="checkbox" checked=${note} disabled=${!mine} onChange=${(e) => setNote(e.currentTarget.checked)} />
          <span>${t('composer.note')}</span>
        </label>
        ${canAttach && html`
          <input id="attach-file" ref=${picker} type="file" class="visually-hidden" accept=${ACCEPT} tabindex="-1" aria-hidden="true"
            onChange=${(e) => { attach(firstFile(e.currentTarget.files)); e.currentTarget.value = ''; }} />
          <button id="attach" type="button" class="icon-button attach-button" disabled=${busy}
            aria-label=${t('composer.attach')} title=${t('composer.attach')} onClick=${() => picker.current && picker.current.click()}>
            ${icons.attach()}
          </button>`}
        ${canTemplate && html`
          <button id="template-open" type="button" class="icon-button template-button" disabled=${busy}
            aria-label=${t('composer.template')} title=${t('composer.template')} onClick=${() => setTemplating(true)}>
            ${icons.template()}
          </button>`}
        <label for="composer" class="visually-hidden">${note ? t('composer.note_label') : t('composer.reply_label')}</label>
        <span id="composer-keys" class="visually-hidden">${t('composer.keys')}</span>
        <textarea id="composer" dir="auto" rows=${rows} value=${text}
          placeholder=${note ? t('composer.note_placeholder') : file ? t('composer.caption_placeholder') : t('composer.placeholder')}
          aria-autocomplete="list" aria-describedby="composer-keys"
          aria-controls=${showList && replies.length ? 'quick-replies' : undefined}
          aria-activedescendant=${showList && replies.length ? 'quick-reply-' + index : undefined}
          onInput=${(e) => onInput(e.currentTarget.value)} onKeyDown=${onKeyDown} onPaste=${onPaste}></textarea>
        <button id="send" type="submit" class="button primary send" disabled=${busy || (!text.trim() && !(file && canAttach)) || !canSend}
          aria-label=${note ? t('composer.add_note') : t('composer.send')}>
          ${icons.send()}
        </button>
      </div>
    </form>
    ${dialog}
  `;
}

/** What the window notice says: closed, closing or tagged, on this channel (its name). */
function windowNotice(win, channel) {
  if (win.state === 'closed') {
    if (!win.closesAt) return t('composer.window_closed', { channel });
    return win.tagged
      ? t('composer.window_closed_tagged', { when: dateTime(win.closesAt) })
      : t('composer.window_closed_at', { when: dateTime(win.closesAt), channel });
  }
  if (win.state === 'closing') {
    return win.tagged
      ? t('composer.window_closing_tagged', { time: time(win.closesAt) })
      : t('composer.window_closing', { time: time(win.closesAt), channel });
  }
  return t('composer.window_tagged', { when: dateTime(win.closesAt) });
}
