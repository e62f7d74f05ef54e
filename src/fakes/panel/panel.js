// The demo's panel app, served by the fake business API at /business/panel and shown by the
// console as a tab of the customer panel. The console posts it {type: "switchboard.context",
// token}; only a message from its parent window, from an origin it was told (the meta tag),
// counts: anything else is ignored (and counted in body[data-ignored]). The token goes to the
// fake's server (POST /business/panel/context), which checks its HS256 signature with the app's
// secret, its audience and expiry, and answers the customer's orders; nothing here trusts the
// token's contents by itself.

(function () {
  'use strict';
  const meta = document.querySelector('meta[name="switchboard-origins"]');
  const origins = ((meta && meta.content) || '').split(/\s+/).filter(Boolean);
  const $ = (id) => document.getElementById(id);
  let ignored = 0;
  let asked = 0;

  function state(name) {
    document.body.dataset.state = name;
  }

  function text(el, value) {
    el.textContent = value == null ? '' : String(value);
  }

  function order(o) {
    const li = document.createElement('li');
    li.className = 'order';
    li.dataset.number = o.number;
    const head = document.createElement('div');
    head.className = 'order-head';
    const number = document.createElement('span');
    number.className = 'order-number';
    text(number, o.number);
    const status = document.createElement('span');
    status.className = 'status status-' + String(o.status).replace(/[^a-z]/g, '');
    text(status, o.status);
    head.append(number, status);
    const line = document.createElement('span');
    line.className = 'muted';
    text(line, o.carrier + ' · ETA ' + o.eta);
    li.append(head, line);
    return li;
  }

  function show(answer) {
    $('panel-waiting').hidden = true;
    $('panel-refused').hidden = true;
    $('panel-context').hidden = false;
    const contact = answer.contact || {};
    text($('panel-customer'), 'Orders of ' + (contact.name || contact.phone || contact.id));
    text($('panel-who'), 'Asked by ' + (answer.agent && answer.agent.name) + ' · conversation ' + answer.conversation);
    document.body.dataset.conversation = answer.conversation;
    document.body.dataset.customer = contact.id || '';
    const list = $('panel-orders');
    list.replaceChildren(...(answer.orders || []).map(order));
    $('panel-none').hidden = (answer.orders || []).length > 0;
    state('shown');
  }

  function refuse(why) {
    $('panel-context').hidden = true;
    $('panel-waiting').hidden = true;
    text($('panel-refused'), 'The console\u2019s context was refused: ' + why);
    $('panel-refused').hidden = false;
    state('refused');
  }

  async function context(token) {
    const mine = ++asked;
    state('loading');
    try {
      const res = await fetch('/business/panel/context', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
        cache: 'no-store',
      });
      const body = await res.json().catch(() => ({}));
      if (mine !== asked) return; // a newer context came meanwhile
      if (res.ok) show(body);
      else refuse(body.error || res.status);
    } catch (e) {
      if (mine === asked) refuse(e && e.message);
    }
  }

  window.addEventListener('message', (event) => {
    const data = event.data;
    const fromConsole = window.parent !== window && event.source === window.parent && origins.includes(event.origin);
    if (!fromConsole || !data || data.type !== 'switchboard.context' || typeof data.token !== 'string') {
      ignored += 1;
      document.body.dataset.ignored = String(ignored);
      return;
    }
    context(data.token);
  });

  // Ready: ask the console for the context (it also posts it when the frame has loaded). Only
  // the parent whose origin is one of these receives it.
  if (window.parent !== window) {
    for (const origin of origins) window.parent.postMessage({ type: 'switchboard.ready' }, origin);
  }
})();
