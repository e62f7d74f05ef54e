/* Switchboard web chat widget. Vanilla JS, no dependencies, served by the gateway at /widget.js.
 * Embed: <script src="https://GATEWAY/widget.js" data-channel="CHANNEL" data-token="WEBSITE_TOKEN"
 *   [data-lang="en|es|fr|pt|ar|ru"] [data-prechat="true"] async></script>
 * Language: data-lang, else the page's <html lang>, else the browser's; English by default.
 * The widget lives in a shadow root (the page's CSS cannot reach it), keeps the visitor's token in
 * localStorage (the conversation is found again after a reload or on another page), follows the
 * transcript over its websocket (resuming after the last sequence it saw) and speaks the console's
 * six languages (right to left in Arabic). API: docs/CONSOLE_API.md, "Widget API". */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.__switchboardWidget) return;
  window.__switchboardWidget = true;
  var base = new URL(script.src, location.href).origin;
  var channel = script.getAttribute('data-channel') || 'webchat';
  var websiteToken = script.getAttribute('data-token') || '';
  var prechat = script.getAttribute('data-prechat') === 'true';
  var storeKey = 'switchboard-widget:' + base + ':' + channel;

  var STRINGS = {
    en: { title: 'Chat with us', open: 'Open the chat', close: 'Close the chat', placeholder: 'Write a message…', send: 'Send', attach: 'Send a file', start: 'Start the chat', name: 'Your name', email: 'Your email', optional: '(optional)', offlineTitle: 'We are away', offlineText: 'Leave us a message and we will answer as soon as we are back.', message: 'Your message', leave: 'Send the message', thanks: 'Thank you! We will get back to you.', failed: 'Not sent. Tap to retry.', reconnecting: 'Reconnecting…', you: 'You', agent: 'Agent', bot: 'Assistant', file: 'File', invalidEmail: 'Please enter a valid email.', sending: 'Sending…' },
    es: { title: 'Chatea con nosotros', open: 'Abrir el chat', close: 'Cerrar el chat', placeholder: 'Escribe un mensaje…', send: 'Enviar', attach: 'Enviar un archivo', start: 'Empezar el chat', name: 'Tu nombre', email: 'Tu correo', optional: '(opcional)', offlineTitle: 'No estamos disponibles', offlineText: 'Déjanos un mensaje y te responderemos en cuanto volvamos.', message: 'Tu mensaje', leave: 'Enviar el mensaje', thanks: '¡Gracias! Te responderemos pronto.', failed: 'No enviado. Toca para reintentar.', reconnecting: 'Reconectando…', you: 'Tú', agent: 'Agente', bot: 'Asistente', file: 'Archivo', invalidEmail: 'Introduce un correo válido.', sending: 'Enviando…' },
    fr: { title: 'Discutez avec nous', open: 'Ouvrir la discussion', close: 'Fermer la discussion', placeholder: 'Écrivez un message…', send: 'Envoyer', attach: 'Envoyer un fichier', start: 'Commencer', name: 'Votre nom', email: 'Votre e-mail', optional: '(facultatif)', offlineTitle: 'Nous sommes absents', offlineText: 'Laissez-nous un message, nous répondrons dès notre retour.', message: 'Votre message', leave: 'Envoyer le message', thanks: 'Merci ! Nous revenons vers vous.', failed: 'Non envoyé. Touchez pour réessayer.', reconnecting: 'Reconnexion…', you: 'Vous', agent: 'Conseiller', bot: 'Assistant', file: 'Fichier', invalidEmail: 'Saisissez un e-mail valide.', sending: 'Envoi…' },
    pt: { title: 'Fale connosco', open: 'Abrir o chat', close: 'Fechar o chat', placeholder: 'Escreva uma mensagem…', send: 'Enviar', attach: 'Enviar um ficheiro', start: 'Começar', name: 'O seu nome', email: 'O seu email', optional: '(opcional)', offlineTitle: 'Estamos ausentes', offlineText: 'Deixe-nos uma mensagem e responderemos assim que voltarmos.', message: 'A sua mensagem', leave: 'Enviar a mensagem', thanks: 'Obrigado! Entraremos em contacto.', failed: 'Não enviada. Toque para tentar de novo.', reconnecting: 'A religar…', you: 'Você', agent: 'Agente', bot: 'Assistente', file: 'Ficheiro', invalidEmail: 'Indique um email válido.', sending: 'A enviar…' },
    ar: { title: 'تحدث معنا', open: 'افتح المحادثة', close: 'أغلق المحادثة', placeholder: 'اكتب رسالة…', send: 'إرسال', attach: 'أرسل ملفًا', start: 'ابدأ المحادثة', name: 'اسمك', email: 'بريدك الإلكتروني', optional: '(اختياري)', offlineTitle: 'نحن غير متاحين الآن', offlineText: 'اترك لنا رسالة وسنرد عليك فور عودتنا.', message: 'رسالتك', leave: 'أرسل الرسالة', thanks: 'شكرًا لك! سنعود إليك قريبًا.', failed: 'لم تُرسل. اضغط لإعادة المحاولة.', reconnecting: 'جارٍ إعادة الاتصال…', you: 'أنت', agent: 'موظف', bot: 'المساعد', file: 'ملف', invalidEmail: 'أدخل بريدًا إلكترونيًا صحيحًا.', sending: 'جارٍ الإرسال…' },
    ru: { title: 'Напишите нам', open: 'Открыть чат', close: 'Закрыть чат', placeholder: 'Напишите сообщение…', send: 'Отправить', attach: 'Отправить файл', start: 'Начать чат', name: 'Ваше имя', email: 'Ваш email', optional: '(необязательно)', offlineTitle: 'Нас сейчас нет', offlineText: 'Оставьте сообщение, и мы ответим, как только вернёмся.', message: 'Ваше сообщение', leave: 'Отправить сообщение', thanks: 'Спасибо! Мы свяжемся с вами.', failed: 'Не отправлено. Нажмите, чтобы повторить.', reconnecting: 'Переподключение…', you: 'Вы', agent: 'Оператор', bot: 'Помощник', file: 'Файл', invalidEmail: 'Введите корректный email.', sending: 'Отправка…' }
  };
  // The embed's data-lang, else the page's language, else the browser's.
  var wanted = (script.getAttribute('data-lang') || document.documentElement.lang || navigator.language || 'en').toLowerCase().slice(0, 2);
  var lang = STRINGS[wanted] ? wanted : 'en';
  var T = STRINGS[lang];
  var rtl = lang === 'ar';

  var CSS = [
    // The host element sits in the page: nothing of the page's CSS may show on it.
    ':host{all:initial !important;display:contents !important}',
    '*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}',
    '.launcher{position:fixed;inset-block-end:20px;inset-inline-end:20px;width:56px;height:56px;border-radius:50%;border:0;background:#0b5cad;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;z-index:2147483000}',
    '.launcher:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #f5a623;outline-offset:2px}',
    '.launcher svg{width:28px;height:28px;fill:currentColor}',
    '.icon svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;vertical-align:middle}',
    '.panel{position:fixed;inset-block-end:88px;inset-inline-end:20px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;color:#1c1e21;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000;font-size:15px;line-height:1.4}',
    '.panel[hidden]{display:none}',
    '@media (max-width:480px){.panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}.launcher{inset-block-end:14px;inset-inline-end:14px}}',
    'header{background:#0b5cad;color:#fff;padding:14px 16px;display:flex;align-items:center;justify-content:space-between;gap:8px}',
    'header h2{margin:0;font-size:17px;font-weight:600}',
    '.x{background:none;border:0;color:#fff;font-size:22px;cursor:pointer;line-height:1;padding:4px 8px;border-radius:6px}',
    '.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f4f6f8}',
    '.msg{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}',
    '.msg.visitor{align-self:flex-end;background:#0b5cad;color:#fff;border-end-end-radius:4px}',
    '.msg.bot,.msg.agent{align-self:flex-start;background:#fff;border:1px solid #dde1e6;border-end-start-radius:4px}',
    '.msg .who{display:block;font-size:12px;color:#5b6470;margin-block-end:2px}',
    '.msg.visitor .who{color:#dce9f7}',
    '.msg.pending{opacity:.6}.msg.failed{background:#b3261e;cursor:pointer}',
    '.opts{display:flex;flex-wrap:wrap;gap:6px;margin-block-start:8px}',
    '.opts button{border:1px solid #0b5cad;background:#fff;color:#0b5cad;border-radius:16px;padding:6px 12px;cursor:pointer;font-size:14px}',
    '.opts button:hover{background:#e8f0fa}',
    'form.compose{display:flex;gap:6px;padding:10px;border-block-start:1px solid #dde1e6;background:#fff;align-items:flex-end}',
    'textarea{flex:1;resize:none;border:1px solid #c5cbd3;border-radius:10px;padding:8px 10px;font-size:15px;max-height:120px;min-height:40px}',
    '.btn{border:0;background:#0b5cad;color:#fff;border-radius:10px;padding:9px 14px;cursor:pointer;font-size:15px}',
    '.icon{border:1px solid #c5cbd3;background:#fff;color:#1c1e21;border-radius:10px;padding:8px 10px;cursor:pointer;font-size:15px}',
    '.form{padding:16px;display:flex;flex-direction:column;gap:10px;overflow-y:auto;flex:1}',
    '.form label{display:flex;flex-direction:column;gap:4px;font-size:14px;color:#333}',
    '.form input,.form textarea{border:1px solid #c5cbd3;border-radius:8px;padding:9px 10px;font-size:15px}',
    '.form p{margin:0;color:#444}.err{color:#b3261e;font-size:13px;min-height:1em}',
    '.status{font-size:12px;text-align:center;color:#5b6470;padding:2px}',
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    'a{color:inherit}'
  ].join('\n');

  var CLIP = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M21 12.5l-8.5 8.5a5 5 0 0 1-7-7L14 5.5a3.5 3.5 0 0 1 5 5L10.5 19a2 2 0 0 1-3-3L15 8.5"/></svg>';

  // ---------------------------------------------------------------- small helpers
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function load() { try { return JSON.parse(localStorage.getItem(storeKey) || 'null'); } catch (e) { return null; } }
  function save(v) { try { localStorage.setItem(storeKey, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  function newId() {
    var a = new Uint8Array(12); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  function api(method, path, body, extraHeaders) {
    var headers = { 'X-Website-Token': websiteToken };
    if (session && session.token) headers.Authorization = 'Bearer ' + session.token;
    if (body !== undefined && !(body instanceof Blob)) headers['Content-Type'] = 'application/json';
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    return fetch(base + '/api/v1/widget' + path, {
      method: method, headers: headers, mode: 'cors', credentials: 'omit',
      body: body === undefined ? undefined : (body instanceof Blob ? body : JSON.stringify(body))
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = null; try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) { var err = new Error('HTTP ' + r.status); err.status = r.status; err.data = data; throw err; }
        return data;
      });
    });
  }

  // ---------------------------------------------------------------- the DOM
  var host = el('div', { 'data-switchboard-widget': '' });
  var root = host.attachShadow({ mode: 'open' });
  root.appendChild(el('style', { text: CSS }));
  var launcher = el('button', { class: 'launcher', type: 'button', 'aria-label': T.open, 'aria-expanded': 'false', 'aria-controls': 'sbw-panel' });
  launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
  var title = el('h2', { id: 'sbw-title', text: T.title });
  var closeButton = el('button', { class: 'x', type: 'button', 'aria-label': T.close, text: '×' });
  var body = el('div', { class: 'form' });
  var panel = el('section', { class: 'panel', id: 'sbw-panel', role: 'dialog', 'aria-labelledby': 'sbw-title', dir: rtl ? 'rtl' : 'ltr', lang: lang, hidden: '' }, [
    el('header', null, [title, closeButton]), body
  ]);
  root.appendChild(launcher);
  root.appendChild(panel);

  var session = load();
  var lastSeq = 0;
  var shown = {};          // seq → true
  var pending = {};        // client_id → bubble
  var socket = null, retry = 0, started = false, isOpen = false;
  var log, input, statusLine;

  function setOpen(open) {
    isOpen = open;
    panel.hidden = !open;
    launcher.setAttribute('aria-expanded', String(open));
    launcher.setAttribute('aria-label', open ? T.close : T.open);
    if (open) { start(); setTimeout(function () { var f = panel.querySelector('textarea,input'); if (f) f.focus(); }, 0); }
    else launcher.focus();
  }
  launcher.addEventListener('click', function () { setOpen(!isOpen); });
  closeButton.addEventListener('click', function () { setOpen(false); });
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') setOpen(false); });

  function replaceBody(node) { panel.replaceChild(node, body); body = node; }

  // ---------------------------------------------------------------- starting
  function start() {
    if (started) return;
    started = true;
    if (session && session.token) { chat(); return; }
    api('GET', '/status').then(function (s) {
      if (s && s.status === 'offline') offlineForm(); else if (prechat) prechatForm(); else begin({});
    }).catch(function () { if (prechat) prechatForm(); else begin({}); });
  }

  function field(label, type, optional, name) {
    var input = el(type === 'textarea' ? 'textarea' : 'input', { type: type === 'textarea' ? null : type, name: name, required: optional ? null : 'required', rows: type === 'textarea' ? '4' : null, autocomplete: name === 'email' ? 'email' : (name === 'name' ? 'name' : null) });
    return { label: el('label', null, [document.createTextNode(label + (optional ? ' ' + T.optional : '')), input]), input: input };
  }

  function prechatForm() {
    var name = field(T.name, 'text', true, 'name'), email = field(T.email, 'email', true, 'email');
    var err = el('p', { class: 'err', role: 'alert' });
    var form = el('form', { class: 'form', novalidate: '' }, [name.label, email.label, err, el('button', { class: 'btn', type: 'submit', text: T.start })]);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (email.input.value && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.input.value)) { err.textContent = T.invalidEmail; email.input.focus(); return; }
      begin({ name: name.input.value || null, email: email.input.value || null });
    });
    replaceBody(form);
    name.input.focus();
  }

  function begin(details) {
    return api('POST', '/sessions', details).then(function (s) {
      session = { token: s.visitor_token, customer: s.customer_id };
      save(session);
      chat();
    }).catch(function () { started = false; });
  }

  function offlineForm() {
    var name = field(T.name, 'text', false, 'name'), email = field(T.email, 'email', false, 'email'), message = field(T.message, 'textarea', false, 'message');
    var err = el('p', { class: 'err', role: 'alert' });
    var form = el('form', { class: 'form', novalidate: '' }, [
      el('p', { text: T.offlineText }), name.label, email.label, message.label, err,
      el('button', { class: 'btn', type: 'submit', text: T.leave })
    ]);
    title.textContent = T.offlineTitle;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!name.input.value.trim() || !message.input.value.trim()) { err.textContent = ''; (name.input.value.trim() ? message.input : name.input).focus(); return; }
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.input.value)) { err.textContent = T.invalidEmail; email.input.focus(); return; }
      err.textContent = T.sending;
      var fresh = function () { return api('POST', '/sessions', { name: name.input.value, email: email.input.value }).then(function (s) { session = { token: s.visitor_token, customer: s.customer_id }; save(session); }); };
      var leave = function () { return api('POST', '/offline', { client_id: newId(), name: name.input.value, email: email.input.value, message: message.input.value }); };
      (session && session.token ? Promise.resolve() : fresh()).then(leave).catch(function (e) {
        // An expired session: start a new one, once.
        if (e && e.status === 401) { session = null; save(null); return fresh().then(leave); }
        throw e;
      }).then(function () {
        replaceBody(el('div', { class: 'form', role: 'status' }, [el('p', { text: T.thanks })]));
      }).catch(function () { err.textContent = T.failed; });
    });
    replaceBody(form);
  }

  // ---------------------------------------------------------------- the chat
  function chat() {
    title.textContent = T.title;
    log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' });
    statusLine = el('div', { class: 'status', role: 'status' });
    input = el('textarea', { rows: '1', placeholder: T.placeholder, 'aria-label': T.placeholder, maxlength: '4096' });
    var file = el('input', { type: 'file', class: 'sr', tabindex: '-1', 'aria-hidden': 'true', accept: 'image/jpeg,image/png,application/pdf,video/mp4,audio/*,text/plain' });
    var attach = el('button', { class: 'icon', type: 'button', 'aria-label': T.attach, title: T.attach });
    attach.innerHTML = CLIP;
    var send = el('button', { class: 'btn', type: 'submit', text: T.send });
    var form = el('form', { class: 'compose' }, [attach, file, input, send]);
    attach.addEventListener('click', function () { file.click(); });
    file.addEventListener('change', function () { if (file.files && file.files[0]) sendFile(file.files[0]); file.value = ''; });
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : submit(e); } });
    form.addEventListener('submit', submit);
    function submit(e) { e.preventDefault(); var text = input.value.trim(); if (!text) return; input.value = ''; sendMessage({ text: text }, text); }
    var wrap = el('div', { class: 'form', style: 'padding:0;gap:0' }, [log, statusLine, form]);
    replaceBody(wrap);
    api('GET', '/transcript').then(function (t) {
      (t.messages || []).forEach(render);
      lastSeq = Math.max(lastSeq, t.last_seq || 0);
      connect();
    }).catch(function (e) {
      if (e.status === 401) { session = null; save(null); started = false; start(); }
      else connect();
    });
  }

  function bubble(from, text) {
    var who = from === 'visitor' ? T.you : (from === 'agent' ? T.agent : T.bot);
    return el('div', { class: 'msg ' + from }, [el('span', { class: 'who', text: who }), el('span', { class: 'text', text: text || '' })]);
  }

  function render(m) {
    if (!m || shown[m.seq]) return;
    shown[m.seq] = true;
    if (m.seq > lastSeq) lastSeq = m.seq;
    if (m.client_id && pending[m.client_id]) { log.removeChild(pending[m.client_id]); delete pending[m.client_id]; }
    var node;
    if (m.type === 'file') {
      node = bubble(m.from, '');
      var label = (m.filename || T.file) + (m.caption ? ' — ' + m.caption : '');
      var text = node.querySelector('.text');
      text.textContent = '';
      if (m.media_id) {
        text.appendChild(el('a', { href: '#', text: label, onclick: function (e) { e.preventDefault(); download(m.media_id, m.filename || 'file'); } }));
      } else text.textContent = label;
    } else {
      var text = [m.header, m.text, m.footer].filter(Boolean).join('\n');
      node = bubble(m.from, text);
      if (m.options && m.options.length) {
        var opts = el('div', { class: 'opts', role: 'group' });
        m.options.forEach(function (o) {
          opts.appendChild(el('button', { type: 'button', text: o.title, title: o.description || null, onclick: function () {
            sendMessage({ choice: { id: o.id, title: o.title } }, o.title);
          } }));
        });
        node.appendChild(opts);
      }
    }
    node.setAttribute('data-seq', m.seq);
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
  }

  // A file of the conversation, fetched with the visitor's token and saved.
  function download(id, name) {
    fetch(base + '/api/v1/widget/media/' + encodeURIComponent(id), {
      headers: { 'X-Website-Token': websiteToken, Authorization: 'Bearer ' + session.token }, mode: 'cors', credentials: 'omit'
    }).then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.blob(); }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el('a', { href: url, download: name });
      root.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    }).catch(function () { /* not there (yet): the link stays */ });
  }

  function sendMessage(payload, shownText) {
    var id = newId();
    payload.client_id = id;
    var node = bubble('visitor', shownText);
    node.classList.add('pending');
    pending[id] = node;
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    var attempt = function () {
      node.classList.remove('failed'); node.classList.add('pending');
      api('POST', '/messages', payload).catch(function () {
        node.classList.remove('pending'); node.classList.add('failed');
        node.title = T.failed;
        node.onclick = attempt; // the same client_id: a retry is recorded once
      });
    };
    attempt();
  }

  function sendFile(blob) {
    var id = newId();
    var node = bubble('visitor', blob.name || T.file);
    node.classList.add('pending');
    pending[id] = node;
    log.appendChild(node);
    api('POST', '/attachments?client_id=' + id + '&filename=' + encodeURIComponent(blob.name || 'file'), blob, { 'Content-Type': blob.type || 'application/octet-stream' })
      .catch(function () { node.classList.remove('pending'); node.classList.add('failed'); node.title = T.failed; });
  }

  function connect() {
    if (!session || !session.token) return;
    var url = base.replace(/^http/, 'ws') + '/api/v1/widget/ws?website_token=' + encodeURIComponent(websiteToken) +
      '&visitor_token=' + encodeURIComponent(session.token) + '&after=' + lastSeq;
    var ws = new WebSocket(url);
    socket = ws;
    ws.onopen = function () { retry = 0; statusLine.textContent = ''; };
    ws.onmessage = function (e) {
      var frame; try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (frame.type === 'message') render(frame.message);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      statusLine.textContent = T.reconnecting;
      var delay = Math.min(30000, 500 * Math.pow(2, retry++)) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }
  setInterval(function () { if (socket && socket.readyState === 1) socket.send('{"type":"ping"}'); }, 25000);

  function mount() { document.body.appendChild(host); if (session && session.token) start(); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
