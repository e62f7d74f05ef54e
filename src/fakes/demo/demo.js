// The demo customer page of fake-graph: be a customer of the demo business on WhatsApp,
// Telegram, Messenger, Instagram or X.
// WhatsApp: sends go to POST /_demo/send (the fake turns them into Meta's signed webhooks); the
// conversation is polled from GET /_demo/conversation; what the page shows is reported
// through POST /_demo/receipts (Meta's delivered and read statuses).
// The other channels: POST /_demo/{channel}/send (the provider's webhook) and
// GET /_demo/{channel}/conversation (what the gateway sent through the fake's Bot, Send or DM
// API, with the buttons the customer can press).

const PEOPLE = [
  { number: '16505551234', name: 'Sheena Nelson' },
  { number: '34611122233', name: 'Lucía García' },
  { number: '447700900461', name: 'Oliver Brown' },
  { number: '966501234567', name: 'ليلى أحمد' },
];
const PLACES = [
  { name: 'Madrid Gran Vía', address: 'Gran Vía 32, Madrid', latitude: 40.42, longitude: -3.7025 },
  { name: 'Barcelona Diagonal', address: 'Avinguda Diagonal 640, Barcelona', latitude: 41.3947, longitude: 2.148 },
  { name: 'Philz Coffee', address: '101 Forest Ave, Palo Alto, CA 94301', latitude: 37.44221496582, longitude: -122.16165924072 },
];
// The customers of the other channels: their user ids there (Telegram's chat id, the PSID
// Messenger or Instagram gives the page, X's user id).
const CHANNELS = {
  whatsapp: { label: 'Your number', to: 'Fake WhatsApp' },
  telegram: {
    label: 'You are', to: 'Chatting with the demo bot on fake Telegram',
    people: [{ id: '7001001', name: 'Sheena Nelson' }, { id: '7001002', name: 'Lucía García' }, { id: '7001003', name: 'Oliver Brown' }],
  },
  messenger: {
    label: 'You are', to: 'Chatting with the demo Page on fake Messenger',
    people: [{ id: '6789012345', name: 'Sheena Nelson' }, { id: '6789012346', name: 'Lucía García' }, { id: '6789012347', name: 'Oliver Brown' }],
  },
  instagram: {
    label: 'You are', to: 'Chatting with the demo account on fake Instagram',
    people: [{ id: '5550001', name: 'Sheena Nelson' }, { id: '5550002', name: 'Lucía García' }, { id: '5550003', name: 'Oliver Brown' }],
  },
  x: {
    label: 'You are', to: 'Direct messages with the demo account on fake X (answer a menu with its number)',
    people: [{ id: '4200001', name: 'Sheena Nelson' }, { id: '4200002', name: 'Lucía García' }, { id: '4200003', name: 'Oliver Brown' }],
  },
};
const POLL_MS = 1000;
const TICKS = { pending: '…', sending: '…', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

const $ = (selector) => document.querySelector(selector);
const chat = $('#chat');
const state = { channel: 'whatsapp', waId: '', rows: new Map(), reported: { delivered: new Set(), read: new Set() }, timer: 0, images: new Map() };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== '') node.append(child);
  return node;
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error?.message || `HTTP ${response.status}`);
  return data;
}

function notice(text) {
  const box = $('#notice');
  box.textContent = text || '';
  box.hidden = !text;
}

function pretty(number) {
  return `+${number}`;
}

// ---- What a message looks like (Meta's shapes, both directions).

function text(value) {
  return typeof value === 'string' ? value : '';
}

function paragraph(className, value) {
  return value ? el('p', { class: className, dir: 'auto', text: value }) : null;
}

function interactiveBusiness(row, interactive) {
  const parts = [
    paragraph('header', text(interactive.header?.text)),
    paragraph('body', text(interactive.body?.text)),
    paragraph('footer', text(interactive.footer?.text)),
  ];
  const action = interactive.action || {};
  if (interactive.type === 'button') {
    const choices = el('div', { class: 'choices' });
    for (const button of action.buttons || []) {
      const reply = button.reply || {};
      choices.append(el('button', {
        type: 'button', class: 'reply', dir: 'auto', dataset: { id: text(reply.id) }, text: text(reply.title),
        on: { click: () => send({ button: { id: text(reply.id), title: text(reply.title) }, reply_to: row.id }) },
      }));
    }
    parts.push(choices);
  } else if (interactive.type === 'list') {
    const list = el('details', { class: 'list choices' }, el('summary', { dir: 'auto', text: text(action.button) || 'Choose' }));
    for (const section of action.sections || []) {
      const title = paragraph('section-title', text(section.title));
      if (title) list.append(title);
      for (const option of section.rows || []) {
        list.append(el('button', {
          type: 'button', class: 'row', dir: 'auto', dataset: { id: text(option.id) },
          on: {
            click: () => {
              list.open = false;
              send({ list: { id: text(option.id), title: text(option.title), description: option.description }, reply_to: row.id });
            },
          },
        }, text(option.title), option.description ? el('small', { text: text(option.description) }) : null));
      }
    }
    parts.push(list);
  } else {
    parts.push(paragraph('body', `[${text(interactive.type)}]`));
  }
  return parts;
}

// The other channels' rows: text, and the buttons of what the business sent.
function channelContent(row) {
  const parts = [paragraph('body', text(row.text))];
  const buttons = Array.isArray(row.buttons) ? row.buttons : [];
  if (row.from === 'business' && buttons.length) {
    const choices = el('div', { class: 'choices' });
    for (const b of buttons) {
      const label = b.kind === 'number' ? `${text(b.id)}. ${text(b.title)}` : text(b.title);
      choices.append(el('button', {
        type: 'button', class: 'reply', dir: 'auto', dataset: { id: text(b.id) }, text: label,
        on: { click: () => send({ button: { id: text(b.id), title: text(b.title), kind: text(b.kind), reply_to: text(row.id) } }) },
      }));
    }
    parts.push(choices);
  }
  return parts;
}

function content(row) {
  if (row.message === undefined) return channelContent(row);
  const m = row.message || {};
  switch (m.type) {
    case 'text':
      return [paragraph('body', text(m.text?.body))];
    case 'interactive': {
      const i = m.interactive || {};
      if (row.from === 'business') return interactiveBusiness(row, i);
      const reply = i.button_reply || i.list_reply || {};
      return [paragraph('body', text(reply.title)), paragraph('footer', text(reply.description))];
    }
    case 'location': {
      const l = m.location || {};
      const where = `Location: ${[text(l.name), text(l.address)].filter(Boolean).join(', ') || 'shared'}`;
      const map = `https://www.openstreetmap.org/?mlat=${l.latitude}&mlon=${l.longitude}#map=16/${l.latitude}/${l.longitude}`;
      return [paragraph('body', where),
        el('a', { href: map, target: '_blank', rel: 'noopener noreferrer', text: `${l.latitude}, ${l.longitude}` })];
    }
    case 'template':
      return [paragraph('body', `Template “${text(m.template?.name)}”`)];
    case 'reaction':
      return [paragraph('body', `Reacted ${text(m.reaction?.emoji)}`)];
    default: {
      const media = m[m.type] || {};
      const shown = row.from === 'customer' && state.images.get(media.id);
      if (shown) {
        return [el('img', { class: 'photo', src: shown, alt: text(media.caption) || 'Your image' }),
          paragraph('body', text(media.caption))];
      }
      return [paragraph('body', `[${text(m.type) || 'message'}] ${text(media.caption)}`.trim()),
        paragraph('footer', 'Media is not shown on this demo page.')];
    }
  }
}

function tickLabel(row) {
  return row.status === 'failed' ? `not delivered: ${row.error || ''}` : row.status;
}

function time(at) {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function render(rows) {
  const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
  const seen = new Set();
  let added = false;
  for (const row of rows) {
    seen.add(row.id);
    const known = state.rows.get(row.id);
    if (known) {
      if (known.status !== row.status) {
        known.status = row.status;
        known.ticks.dataset.status = row.status;
        known.ticks.textContent = TICKS[row.status] || '';
        known.ticks.setAttribute('aria-label', tickLabel(row));
        known.ticks.title = tickLabel(row);
        if (row.error && !known.node.querySelector('.error')) known.node.append(paragraph('error', row.error));
      }
      continue;
    }
    const ticks = el('span', {
      class: 'ticks', dataset: { status: row.status }, role: 'img',
      'aria-label': tickLabel(row), title: tickLabel(row), text: TICKS[row.status] || '',
    });
    const node = el('article', {
      class: 'message', dataset: { from: row.from, id: row.id, type: row.message?.type || 'text' },
      'aria-label': row.from === 'business' ? 'Business' : 'You',
    }, ...content(row), el('div', { class: 'meta' }, el('time', { datetime: row.at, text: time(row.at) }), ticks),
    row.error ? paragraph('error', row.error) : null);
    chat.append(node);
    state.rows.set(row.id, { node, ticks, status: row.status });
    added = true;
  }
  for (const [id, known] of state.rows) {
    if (!seen.has(id)) {
      known.node.remove();
      state.rows.delete(id);
    }
  }
  if (added && atBottom) chat.scrollTop = chat.scrollHeight;
}

// ---- Ticks flowing back: delivered once shown, read while the page is visible.

async function report(rows) {
  if (state.channel !== 'whatsapp') return;
  const business = rows.filter((r) => r.from === 'business' && r.status !== 'pending');
  const wants = [['delivered', (r) => r.status === 'sent']];
  if (document.visibilityState === 'visible') wants.push(['read', (r) => r.status !== 'read']);
  for (const [status, needs] of wants) {
    const ids = business.filter((r) => needs(r) && !state.reported[status].has(`${state.waId}/${r.id}`)).map((r) => r.id);
    if (!ids.length) continue;
    try {
      await api('/_demo/receipts', { wa_id: state.waId, status, ids });
      for (const id of ids) state.reported[status].add(`${state.waId}/${id}`);
    } catch (error) {
      notice(error.message);
    }
  }
}

let lastRows = [];

function conversationPath() {
  const who = encodeURIComponent(state.waId);
  return state.channel === 'whatsapp'
    ? `/_demo/conversation?wa_id=${who}`
    : `/_demo/${state.channel}/conversation?user=${who}`;
}

async function refresh() {
  const waId = state.waId;
  const channel = state.channel;
  try {
    const data = await api(conversationPath());
    if (waId !== state.waId || channel !== state.channel) return;
    lastRows = data.messages || [];
    render(lastRows);
    await report(lastRows);
  } catch (error) {
    notice(`The fake Graph API does not answer: ${error.message}`);
  }
}

function poll() {
  clearTimeout(state.timer);
  refresh().finally(() => {
    state.timer = setTimeout(poll, POLL_MS);
  });
}

async function send(message) {
  notice('');
  try {
    const path = state.channel === 'whatsapp' ? '/_demo/send' : `/_demo/${state.channel}/send`;
    await api(path, { from: state.waId, name: $('#name').value, ...message });
  } catch (error) {
    notice(error.message);
  }
  poll();
}

/**
 * Send an image as a customer does: the fake holds the file like Meta (`POST /_fake/media`),
 * then the webhook announces its id and checksum; the gateway downloads it from the fake.
 */
async function sendImage(file) {
  notice('');
  if (!['image/jpeg', 'image/png'].includes(file.type)) {
    notice('WhatsApp images are JPEG or PNG.');
    return;
  }
  if (file.size > 5 * 1024 * 1024) {
    notice('WhatsApp images are at most 5 MB.');
    return;
  }
  try {
    const response = await fetch('/_fake/media', {
      method: 'POST', headers: { 'content-type': file.type }, body: file,
    });
    const held = await response.json().catch(() => ({}));
    if (!response.ok || typeof held.id !== 'string') throw new Error(held.error?.message || `HTTP ${response.status}`);
    if (state.images.size >= 50) state.images.clear();
    state.images.set(held.id, URL.createObjectURL(file));
    const caption = $('#text').value.trim();
    $('#text').value = '';
    await api('/_demo/send', {
      from: state.waId,
      name: $('#name').value,
      image: { id: held.id, mime_type: held.mime_type, sha256: held.sha256, ...(caption ? { caption } : {}) },
    });
  } catch (error) {
    notice(error.message);
  }
  poll();
}

// ---- Who the customer is.

// The people of the chosen channel: WhatsApp's by number, the others' by user id.
function people() {
  if (state.channel === 'whatsapp') return PEOPLE.map((p) => ({ id: p.number, name: p.name, label: pretty(p.number) }));
  return CHANNELS[state.channel].people.map((p) => ({ ...p, label: `${p.name} (${p.id})` }));
}

function choosePerson(id) {
  const list = people();
  const person = list.find((p) => p.id === id) || list[0];
  state.waId = person.id;
  $('#number').value = person.id;
  const saved = localStorage.getItem(`demo-name-${state.channel}-${person.id}`);
  $('#name').value = saved || person.name;
  localStorage.setItem(`demo-number-${state.channel}`, person.id);
  for (const { node } of state.rows.values()) node.remove();
  state.rows.clear();
  lastRows = [];
  poll();
}

function chooseChannel(channel) {
  state.channel = CHANNELS[channel] ? channel : 'whatsapp';
  localStorage.setItem('demo-channel', state.channel);
  document.body.dataset.channel = state.channel;
  $('#channel').value = state.channel;
  $('#number-label').textContent = CHANNELS[state.channel].label;
  $('#places').hidden = true;
  $('#to').textContent = CHANNELS[state.channel].to;
  if (state.channel === 'whatsapp' && state.businessNumber) {
    $('#to').textContent = `Chatting with the business number ${pretty(state.businessNumber)}`;
  }
  const select = $('#number');
  select.replaceChildren(...people().map((p) => el('option', { value: p.id, text: p.label })));
  choosePerson(localStorage.getItem(`demo-number-${state.channel}`) || '');
}

function start() {
  const select = $('#number');
  select.addEventListener('change', () => choosePerson(select.value));
  $('#channel').addEventListener('change', (event) => chooseChannel(event.target.value));
  $('#name').addEventListener('change', (event) => localStorage.setItem(`demo-name-${state.channel}-${state.waId}`, event.target.value));

  $('#composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#text');
    const value = input.value.trim();
    if (!value) return;
    input.value = '';
    send({ text: value });
  });

  const picker = $('#image-file');
  $('#image').addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    const file = picker.files && picker.files[0];
    picker.value = '';
    if (file) sendImage(file);
  });

  const places = $('#places');
  $('#location').addEventListener('click', (event) => {
    places.hidden = !places.hidden;
    event.currentTarget.setAttribute('aria-expanded', String(!places.hidden));
  });
  for (const place of PLACES) {
    $('#presets').append(el('button', {
      type: 'button', class: 'place', text: place.name,
      on: { click: () => { places.hidden = true; send({ location: place }); } },
    }));
  }
  $('#coords').addEventListener('submit', (event) => {
    event.preventDefault();
    const latitude = Number($('#lat').value.replace(',', '.'));
    const longitude = Number($('#lon').value.replace(',', '.'));
    if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) {
      notice('Latitude and longitude are numbers, e.g. 40.4200 and -3.7025.');
      return;
    }
    places.hidden = true;
    send({ location: { latitude, longitude } });
  });
  document.addEventListener('visibilitychange', () => report(lastRows));

  api('/_demo/config').then((config) => {
    state.businessNumber = config.display_phone_number;
    if (state.channel === 'whatsapp') {
      $('#to').textContent = `Chatting with the business number ${pretty(config.display_phone_number)}`;
    }
  }).catch(() => {});
  const asked = new URLSearchParams(window.location.search).get('channel');
  chooseChannel(asked || localStorage.getItem('demo-channel') || 'whatsapp');
}

start();
