#!/usr/bin/env node
// Tests of the inbox's pure logic with node's test runner: lib/inbox.js (search queries,
// pages, the virtualized list's window, Meta's 24-hour window, activity frames and when to
// send them), lib/transcript.js (replies in context, reactions, places, contact cards) and
// the list's rows as events change them with 10,000 conversations (lib/model.js listRows), and
// a template's fields, request and draft preview (lib/template-form.js).
//
//   node --test console/tools/test-inbox.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
const dir = mkdtempSync(join(tmpdir(), 'console-inbox-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
for (const f of ['model.js', 'inbox.js', 'transcript.js', 'template-form.js']) copyFileSync(join(lib, f), join(dir, f));
const model = await import(pathToFileURL(join(dir, 'model.js')).href);
const inbox = await import(pathToFileURL(join(dir, 'inbox.js')).href);
const tr = await import(pathToFileURL(join(dir, 'transcript.js')).href);
const tf = await import(pathToFileURL(join(dir, 'template-form.js')).href);

const HOUR = 3_600_000;

test('a search is its free text and the filters set; nothing set: no search', () => {
  assert.equal(inbox.searchQuery('', {}), null);
  assert.equal(inbox.searchQuery('   ', { team: '', tag: ' ' }), null);
  assert.deepEqual(inbox.searchQuery(' Ana ', { channel: 'wa-es', team: 'support', status: 'waiting', tag: 'vip' }), {
    q: 'Ana',
    channel: 'wa-es',
    team: 'support',
    status: 'waiting',
    tag: 'vip',
  });
  assert.deepEqual(inbox.searchQuery('', { assignee: 'me' }), { assignee: 'me' });
  assert.deepEqual(inbox.searchQuery('', { assignee: 'unassigned' }), { unassigned: 'true' });
  assert.equal(inbox.searchQuery('x'.repeat(500)).q.length, 100);
  assert.equal([...inbox.searchQuery('😀'.repeat(150)).q].length, 100);
  // The key does not depend on the order the filters were set in.
  assert.equal(inbox.queryKey({ team: 'a', q: 'b' }), inbox.queryKey({ q: 'b', team: 'a' }));
  const tab = inbox.searchTab({ q: '600', team: 'support' });
  assert.equal(tab.key, 'search:q=600&team=support');
  assert.equal(tab.match, null);
  assert.equal(inbox.filterCount({ team: 'x', tag: '', q: 'not a filter' }), 1);
});

test('pages: the cursor, and an older server without one', () => {
  assert.deepEqual(inbox.pageOf({ conversations: [{ id: 'a' }], next: 'c1' }), { conversations: [{ id: 'a' }], next: 'c1' });
  assert.deepEqual(inbox.pageOf({ conversations: [{ id: 'a' }] }), { conversations: [{ id: 'a' }], next: null });
  assert.deepEqual(inbox.pageOf(null), { conversations: [], next: null });
  assert.deepEqual(inbox.appendIds(['a', 'b'], [{ id: 'b' }, { id: 'c' }, null, { id: 'c' }]), ['a', 'b', 'c']);
  // A next page is added after what the list had; the first page replaces it.
  const s0 = model.emptyWorkspace();
  const c = (id, at) => ({ id, status: 'resolved', updated_at: at });
  let s = model.applyList(s0, 'search:q=a', [c('a', 3), c('b', 2)], 0, { next: 'x' });
  assert.deepEqual(s.lists['search:q=a'].ids, ['a', 'b']);
  assert.equal(s.lists['search:q=a'].next, 'x');
  s = model.applyList(s, 'search:q=a', [c('b', 2), c('c', 1)], 0, { next: null, append: true });
  assert.deepEqual(s.lists['search:q=a'].ids, ['a', 'b', 'c']);
  assert.equal(s.lists['search:q=a'].next, null);
  s = model.applyList(s, 'search:q=a', [c('z', 9)], 0, { next: 'y' });
  assert.deepEqual(s.lists['search:q=a'].ids, ['z']);
  assert.equal(inbox.nearEnd(0, 500, 76, 100), false);
  assert.equal(inbox.nearEnd(76 * 85, 500, 76, 100), true);
});

test('the virtualized list draws the visible rows, a margin, and the focused row', () => {
  const r = inbox.visibleRange(10_000, 76, 76 * 5000, 760, 5);
  assert.deepEqual([r.start, r.end], [4995, 5015]);
  assert.equal(r.before, 4995 * 76);
  assert.equal(r.after, (10_000 - 5015) * 76);
  assert.equal(r.keep, -1);
  // The open row far above stays drawn (focus never leaves the DOM).
  assert.equal(inbox.visibleRange(10_000, 76, 76 * 5000, 760, 5, 3).keep, 3);
  assert.equal(inbox.visibleRange(10_000, 76, 76 * 5000, 760, 5, 5000).keep, -1);
  // At the top and the end; empty.
  assert.deepEqual([inbox.visibleRange(3, 76, 0, 760).start, inbox.visibleRange(3, 76, 0, 760).end], [0, 3]);
  const end = inbox.visibleRange(100, 76, 76 * 200, 760, 2);
  assert.ok(end.start < 100 && end.end === 100 && end.after === 0);
  assert.deepEqual(inbox.visibleRange(0, 76, 0, 760), { start: 0, end: 0, before: 0, after: 0, keep: -1 });
  // Scrolling a row into view, and moving with j/k.
  assert.equal(inbox.scrollToShow(0, 76, 760, 760), 0);
  assert.equal(inbox.scrollToShow(20, 76, 0, 760), 21 * 76 - 760);
  assert.equal(inbox.scrollToShow(3, 76, 0, 760), null);
  assert.equal(inbox.stepIndex(-1, 1, 5), 0);
  assert.equal(inbox.stepIndex(-1, -1, 5), 4);
  assert.equal(inbox.stepIndex(4, 1, 5), 4);
  assert.equal(inbox.stepIndex(2, -1, 5), 1);
  assert.equal(inbox.stepIndex(0, 1, 0), -1);
});

test("Meta's 24-hour window: open, its last hour, closed; an older server says nothing", () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  assert.deepEqual(inbox.replyWindow({ window: { open: true, closes_at: now + 5 * HOUR } }, now), { state: 'open', closesAt: now + 5 * HOUR, tagged: false });
  assert.equal(inbox.replyWindow({ window: { open: true, closes_at: now + HOUR / 2 } }, now).state, 'closing');
  assert.equal(inbox.replyWindow({ window: { open: false, closes_at: now - HOUR } }, now).state, 'closed');
  assert.equal(inbox.replyWindow({ window: { open: false, closes_at: null } }, now).state, 'closed');
  // The server said open, but the time has passed since: closed.
  assert.equal(inbox.replyWindow({ window: { open: true, closes_at: now - 1 } }, now).state, 'closed');
  // Only last_inbound_at.
  assert.equal(inbox.replyWindow({ last_inbound_at: now - 2 * HOUR }, now).state, 'open');
  assert.equal(inbox.replyWindow({ last_inbound_at: now - 23.5 * HOUR }, now).state, 'closing');
  assert.equal(inbox.replyWindow({ last_inbound_at: now - 25 * HOUR }, now).state, 'closed');
  assert.equal(inbox.replyWindow({ last_inbound_at: null }, now).state, 'closed');
  // An older server, or nothing at all.
  assert.equal(inbox.replyWindow({ id: 'a', status: 'assigned' }, now).state, 'unknown');
  assert.equal(inbox.replyWindow(null, now).state, 'unknown');
  assert.equal(inbox.replyWindow({ window: 'yes' }, now).state, 'unknown');
  // When to look again.
  assert.equal(inbox.windowChangesAt({ window: { open: true, closes_at: now + 5 * HOUR } }, now), now + 4 * HOUR);
  assert.equal(inbox.windowChangesAt({ window: { open: true, closes_at: now + HOUR / 2 } }, now), now + HOUR / 2);
  assert.equal(inbox.windowChangesAt({ window: { open: false, closes_at: now } }, now), null);
});

test("a page approved for HUMAN_AGENT: 24 hours, then tagged replies until the 7 days end", () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  const DAY = 24 * HOUR;
  const wrote = now - 2 * HOUR;
  const view = (open, tagged) => ({ window: { rule: 'human_agent', open, closes_at: wrote + 7 * DAY, tagged, tagged_from: wrote + DAY } });
  // Within the 24 hours: open, no tag, and the tag begins at the 24th hour (a timer for it).
  assert.deepEqual(inbox.replyWindow(view(true, false), now), { state: 'open', closesAt: wrote + 7 * DAY, tagged: false });
  assert.equal(inbox.windowChangesAt(view(true, false), now), wrote + DAY);
  // The view was taken in the 24 hours; the clock passed them since: tagged now.
  assert.deepEqual(inbox.replyWindow(view(true, false), wrote + 2 * DAY), { state: 'open', closesAt: wrote + 7 * DAY, tagged: true });
  assert.equal(inbox.windowChangesAt(view(true, false), wrote + 2 * DAY), wrote + 7 * DAY - HOUR);
  // The last hour of the 7 days, then closed: the tag's days ended.
  assert.deepEqual(inbox.replyWindow(view(true, true), wrote + 7 * DAY - HOUR / 2), { state: 'closing', closesAt: wrote + 7 * DAY, tagged: true });
  assert.deepEqual(inbox.replyWindow(view(false, false), wrote + 8 * DAY), { state: 'closed', closesAt: wrote + 7 * DAY, tagged: true });
  // Other rules never tag.
  assert.equal(inbox.replyWindow({ window: { rule: 'service', open: false, closes_at: now - HOUR, tagged_from: now - 2 * HOUR } }, now).tagged, false);
  assert.deepEqual(inbox.replyWindow({ window: { rule: 'none', open: true, closes_at: null, tagged: false, tagged_from: null } }, now), { state: 'open', closesAt: null, tagged: false });
});

test('activity frames: the others in a conversation, me left out, an empty list clears', () => {
  let a = {};
  a = inbox.applyActivity(a, { type: 'activity', conversation_id: 'c1', people: [{ id: 'bob', name: 'Bob', typing: false }, { id: 'alice', name: 'Alice', typing: true }] }, 'alice');
  assert.deepEqual(a, { c1: [{ id: 'bob', name: 'Bob', typing: false }] });
  const before = a;
  a = inbox.applyActivity(a, { type: 'activity', conversation_id: 'c2', people: [{ id: 'carol', typing: true }] }, 'alice');
  assert.equal(a.c1, before.c1);
  assert.deepEqual(inbox.presenceIn(a, 'c2'), { viewing: [], typing: ['carol'] });
  assert.deepEqual(inbox.presenceIn(a, 'c1'), { viewing: ['Bob'], typing: [] });
  a = inbox.applyActivity(a, { type: 'activity', conversation_id: 'c1', people: [] }, 'alice');
  assert.deepEqual(Object.keys(a), ['c2']);
  // Only me: cleared too. Malformed: unchanged.
  a = inbox.applyActivity(a, { conversation_id: 'c2', people: [{ id: 'alice' }] }, 'alice');
  assert.deepEqual(a, {});
  assert.equal(inbox.applyActivity(a, { conversation_id: 'c2' }, 'alice'), a);
  assert.equal(inbox.applyActivity(a, null, 'alice'), a);
  assert.deepEqual(inbox.presenceIn(a, 'nothing'), { viewing: [], typing: [] });
});

test('activity sent: viewing on open and every 20 s, typing at most every 3 s, idle on close', () => {
  const step = (last, event, id, now) => inbox.nextActivity(last, event, id, now);
  const states = (r) => r.frames.map((f) => `${f.conversation_id}:${f.state}`);
  let r = step(null, 'open', 'c1', 0);
  assert.deepEqual(states(r), ['c1:viewing']);
  assert.deepEqual(r.frames[0], { type: 'activity', conversation_id: 'c1', state: 'viewing' });
  let last = r.last;
  assert.deepEqual(states(step(last, 'open', 'c1', 100)), []); // the same one again: nothing new
  assert.deepEqual(states(step(last, 'tick', 'c1', 19_000)), []);
  r = step(last, 'tick', 'c1', 20_000);
  assert.deepEqual(states(r), ['c1:viewing']);
  last = r.last;
  r = step(last, 'input', 'c1', 21_000);
  assert.deepEqual(states(r), ['c1:typing']);
  last = r.last;
  assert.deepEqual(states(step(last, 'input', 'c1', 23_000)), []);
  r = step(last, 'input', 'c1', 24_000);
  assert.deepEqual(states(r), ['c1:typing']);
  last = r.last;
  // Typing stopped: viewing again soon after.
  assert.deepEqual(states(step(last, 'tick', 'c1', 26_000)), []);
  r = step(last, 'tick', 'c1', 30_000);
  assert.deepEqual(states(r), ['c1:viewing']);
  last = r.last;
  // Sent (or emptied): viewing at once, so the others stop seeing "typing".
  r = step(last, 'input', 'c1', 30_500);
  assert.deepEqual(states(r), ['c1:typing']);
  r = step(r.last, 'stop', 'c1', 30_600);
  assert.deepEqual(states(r), ['c1:viewing']);
  assert.deepEqual(states(step(r.last, 'stop', 'c1', 30_700)), []);
  last = r.last;
  // Another conversation opened: idle for the first.
  r = step(last, 'open', 'c2', 31_000);
  assert.deepEqual(states(r), ['c1:idle', 'c2:viewing']);
  r = step(r.last, 'close', 'c2', 32_000);
  assert.deepEqual(states(r), ['c2:idle']);
  assert.equal(r.last, null);
  assert.deepEqual(states(step(null, 'close', 'c2', 33_000)), []);
  assert.deepEqual(states(step(null, 'tick', 'c2', 33_000)), []);
});

test('live tabs follow events by what changed, with 10,000 conversations', () => {
  const N = 10_000;
  const conversations = {};
  for (let i = 0; i < N; i++) {
    const id = 'c' + String(i).padStart(5, '0');
    conversations[id] = { id, status: i % 2 ? 'waiting' : 'assigned', assignee: i % 2 ? null : 'alice', team: 'support', updated_at: i };
  }
  let s = { ...model.emptyWorkspace(), conversations, lastSeq: 1 };
  const tabs = model.buildTabs('alice', [{ id: 'support', name: 'Support', queue_length: 1 }]);
  assert.equal(model.buildTabs('alice', [{ id: 'support', name: 'Support', queue_length: 1 }]) === tabs, false);
  const [mine, team, waiting] = tabs;
  assert.equal(model.buildTabs('alice', s.teams) === model.buildTabs('alice', s.teams), true);
  const rows = model.listRows(s, mine);
  assert.equal(rows.length, N / 2);
  assert.equal(model.listRows(s, mine), rows, 'unchanged: the same rows');
  const copies = { conversations: s.conversations };
  // An event: c00002 resolved, c00003 assigned to me and now the newest.
  let seq = 2;
  const event = (c) => {
    s = model.applyEvent(s, { type: 'event', seq: seq++, kind: 'conversation.updated', data: { conversation: c } }).state;
  };
  event({ ...conversations.c00002, status: 'resolved', updated_at: N + 1 });
  event({ ...conversations.c00003, status: 'assigned', assignee: 'alice', updated_at: N + 2 });
  assert.equal(s.conversations, copies.conversations, 'updated in place, not copied');
  const after = model.listRows(s, mine);
  assert.equal(after.length, N / 2);
  assert.equal(after[0].id, 'c00003');
  assert.ok(!after.some((c) => c.id === 'c00002'));
  // The same as computing from scratch.
  const fresh = Object.values(s.conversations)
    .filter(mine.match)
    .sort((a, b) => b.updated_at - a.updated_at || (a.id < b.id ? -1 : 1))
    .map((c) => c.id);
  assert.deepEqual(after.map((c) => c.id), fresh);
  assert.equal(model.listRows(s, waiting).length, N / 2 - 1);
  assert.equal(model.listRows(s, team).length, N - 1);
  // A message bumps a row to the top.
  s = model.applyEvent(s, {
    type: 'event',
    seq: seq++,
    kind: 'message.created',
    data: { conversation_id: 'c00010', message: { id: 'm', direction: 'inbound', kind: 'text', body: { type: 'text', body: 'hi' }, created_at: N + 5 } },
  }).state;
  assert.equal(model.listRows(s, mine)[0].id, 'c00010');
  assert.equal(model.listRows(s, mine).length, N / 2);
});

const msg = (id, extra = {}) => ({
  id,
  conversation_id: 'c',
  direction: 'inbound',
  sender: 'customer',
  kind: 'text',
  body: { type: 'text', body: 'text of ' + id },
  status: 'received',
  created_at: 1,
  ...extra,
});

test('reactions sit on the message they react to; the latest per person wins, a removed one goes', () => {
  const out = msg('o1', { direction: 'outbound', sender: 'agent', author: 'alice', provider_id: 'wamid.OUT', status: 'read' });
  const react = (id, emoji, at, target = 'wamid.OUT') =>
    msg(id, { kind: 'reaction', body: { type: 'reaction', message_id: target, emoji }, created_at: at, provider_id: 'wamid.' + id });
  let f = tr.foldTranscript([out, react('r1', '👍', 2)]);
  assert.deepEqual(f.shown.map((m) => m.id), ['o1']);
  assert.deepEqual(f.reactions.o1.map((r) => r.emoji), ['👍']);
  // Changed to ❤️: one reaction, the latest.
  f = tr.foldTranscript([out, react('r1', '👍', 2), react('r2', '❤️', 3)]);
  assert.deepEqual(f.reactions.o1.map((r) => r.emoji), ['❤️']);
  // Removed (emoji null or empty).
  f = tr.foldTranscript([out, react('r1', '👍', 2), react('r3', null, 4)]);
  assert.equal(f.reactions.o1, undefined);
  assert.deepEqual(f.shown.map((m) => m.id), ['o1']);
  f = tr.foldTranscript([out, react('r1', '👍', 2), react('r3', '', 4)]);
  assert.equal(f.reactions.o1, undefined);
  // Two people, the same emoji: counted.
  const bot = react('r4', '👍', 5);
  bot.sender = 'agent';
  bot.author = 'bob';
  f = tr.foldTranscript([out, react('r1', '👍', 2), bot]);
  assert.deepEqual(tr.reactionCounts(f.reactions.o1), [{ emoji: '👍', count: 2 }]);
  // To a message not in the transcript: shown on its own, small; removed, not at all.
  f = tr.foldTranscript([react('r5', '😮', 2, 'wamid.GONE')]);
  assert.deepEqual(f.shown.map((m) => [m.id, m.orphan]), [['r5', true]]);
  f = tr.foldTranscript([react('r5', '😮', 2, 'wamid.GONE'), react('r6', null, 3, 'wamid.GONE')]);
  assert.deepEqual(f.shown, []);
  // Malformed ones do not break it.
  f = tr.foldTranscript([null, msg('x', { kind: 'reaction', body: { type: 'reaction' } }), out]);
  assert.deepEqual(f.shown.map((m) => m.id), ['o1']);
  assert.equal(tr.isReaction(msg('y')), false);
});

test('a reply quotes the message it answers (inbound context.message_id, outbound context)', () => {
  const first = msg('m1', { provider_id: 'wamid.A', body: { type: 'text', body: 'Where is my order  #123?' } });
  const inboundReply = msg('m2', { body: { type: 'text', body: 'this one', context: { message_id: 'wamid.A' } } });
  const outboundReply = msg('m3', { direction: 'outbound', sender: 'agent', body: { type: 'text', body: 'on its way' }, context: { message_id: 'wamid.A' } });
  const byProvider = tr.foldTranscript([first, inboundReply, outboundReply]).byProvider;
  assert.equal(tr.replyTarget(inboundReply), 'wamid.A');
  assert.equal(tr.replyTarget(outboundReply), 'wamid.A');
  assert.equal(tr.replyTarget(msg('m4', { body: { type: 'text', body: 'x', context: { replied_to: 'wamid.B' } } })), 'wamid.B');
  assert.equal(tr.replyTarget(msg('m5', { body: { type: 'text', body: 'x', context: { forwarded: true } } })), null);
  assert.equal(tr.replyTarget(msg('m6')), null);
  const q = tr.quoteOf(inboundReply, byProvider);
  assert.equal(q.message, first);
  assert.equal(q.text, 'Where is my order #123?');
  // Not in the transcript: quoted without its text.
  assert.deepEqual(tr.quoteOf(msg('m7', { body: { type: 'text', body: 'x', context: { message_id: 'wamid.Z' } } }), byProvider), {
    id: 'wamid.Z',
    message: null,
    text: '',
    kind: null,
  });
  assert.equal(tr.quoteOf(msg('m8'), byProvider), null);
  assert.equal(tr.excerpt('a'.repeat(200), 10), 'aaaaaaaaa…');
  assert.equal(tr.excerpt('😀'.repeat(20), 5), '😀😀😀😀…');
});

test('places link to OpenStreetMap; contact cards', () => {
  const p = tr.place({ type: 'location', latitude: 40.4168, longitude: -3.7038, name: 'Sol', address: 'Puerta del Sol, Madrid' });
  assert.equal(p.link, 'https://www.openstreetmap.org/?mlat=40.4168&mlon=-3.7038#map=16/40.4168/-3.7038');
  assert.equal(p.name, 'Sol');
  assert.equal(p.address, 'Puerta del Sol, Madrid');
  assert.equal(p.coordinates, '40.41680, -3.70380');
  assert.equal(tr.mapLink({ latitude: 91, longitude: 0 }), null);
  assert.equal(tr.mapLink({ latitude: 'x', longitude: 0 }), null);
  assert.equal(tr.mapLink({ latitude: '1.5', longitude: '2' }), 'https://www.openstreetmap.org/?mlat=1.5&mlon=2#map=16/1.5/2');
  assert.equal(tr.place(null).link, null);
  const cards = tr.contactCards({
    type: 'contacts',
    contacts: [
      {
        formatted_name: 'John Smith',
        phones: [{ phone: '+1 (650) 555-1234', wa_id: '16505551234', kind: 'WORK' }, { phone: null, wa_id: null }],
        emails: ['john@example.com'],
        organization: 'Acme',
      },
      null,
      { phones: [{ wa_id: '34600000001' }], emails: [] },
    ],
  });
  assert.deepEqual(cards, [
    { name: 'John Smith', organization: 'Acme', phones: [{ phone: '+1 (650) 555-1234', kind: 'WORK' }], emails: ['john@example.com'] },
    { name: null, organization: null, phones: [{ phone: '34600000001', kind: null }], emails: [] },
  ]);
  assert.deepEqual(tr.contactCards({ type: 'contacts' }), []);
  assert.equal(tr.telLink('+1 (650) 555-1234'), 'tel:+16505551234');
  assert.equal(tr.telLink('no'), null);
});

test('SLA clocks: the worst one, moving with the time; stopped ones keep their verdict', () => {
  const MIN = 60_000;
  const clock = (name, o) => ({ clock: name, status: 'on_track', stopped_at: null, ...o });
  const c = {
    sla: {
      status: 'on_track',
      clocks: [
        clock('first_response', { at_risk_at: 10 * MIN, due_at: 20 * MIN }),
        clock('resolution', { at_risk_at: 100 * MIN, due_at: 200 * MIN }),
      ],
    },
  };
  assert.equal(inbox.slaState({}, 0), null);
  assert.equal(inbox.slaState({ sla: null }, 0), null);
  assert.deepEqual(inbox.slaState(c, 0), { status: 'on_track', clock: 'first_response', dueAt: 20 * MIN });
  assert.equal(inbox.slaState(c, 10 * MIN).status, 'at_risk');
  assert.deepEqual(inbox.slaState(c, 20 * MIN), { status: 'breached', clock: 'first_response', dueAt: 20 * MIN });
  assert.equal(inbox.slaChangesAt(c, 0), 10 * MIN);
  assert.equal(inbox.slaChangesAt(c, 10 * MIN), 20 * MIN);
  assert.equal(inbox.slaChangesAt(c, 20 * MIN), 100 * MIN);
  // Answered late: the first response is missed for good, the resolution runs on.
  const answered = {
    sla: { clocks: [clock('first_response', { status: 'missed', stopped_at: 25 * MIN, due_at: 20 * MIN }), c.sla.clocks[1]] },
  };
  assert.equal(inbox.slaState(answered, 30 * MIN).status, 'missed');
  assert.equal(inbox.slaState(answered, 300 * MIN).status, 'breached');
  assert.equal(inbox.slaChangesAt(answered, 30 * MIN), 100 * MIN);
  // A calendar that never opens: no due time, on track.
  assert.equal(inbox.slaState({ sla: { clocks: [clock('first_response', { due_at: null, at_risk_at: null })] } }, 1e12).status, 'on_track');
  // Junk from a broken server is ignored.
  assert.equal(inbox.slaState({ sla: { clocks: [null, 3, { status: 'x' }] } }, 0), null);
});

const readyTemplate = {
  name: 'parcel_ready',
  language: 'en_US',
  category: 'UTILITY',
  form: {
    parameter_format: 'POSITIONAL',
    header: { format: 'IMAGE', text: null, parameter: null },
    body: 'Hi {{1}}, parcel {{2}} is ready.',
    body_parameters: ['1', '2'],
    footer: 'Parcels Inc.',
    buttons: [
      { index: 0, type: 'URL', text: 'Track', url: 'https://p.example/t/{{1}}', sub_type: 'url', required: true },
      { index: 1, type: 'PHONE_NUMBER', text: 'Call', url: null, sub_type: null, required: false },
      { index: 2, type: 'QUICK_REPLY', text: 'Talk to us', url: null, sub_type: 'quick_reply', required: false },
    ],
  },
};

test('a template asks for its media header, each body parameter and the buttons that take a value', () => {
  const fields = tf.fieldsOf(readyTemplate.form);
  assert.deepEqual(fields.map((f) => [f.key, f.kind, f.required]), [
    ['header', 'header-media', true],
    ['body:1', 'body', true],
    ['body:2', 'body', true],
    ['button:0', 'button', true],
    ['button:2', 'button', false],
  ]);
  assert.deepEqual(tf.fieldsOf(null), []);
  assert.equal(tf.unsupported(readyTemplate.form), false);
  assert.equal(tf.unsupported({ header: { format: 'LOCATION' } }), true);
  assert.equal(tf.placeholder('first_name'), '{{first_name}}');
});

test("a template's values become the request, empty ones left out, positional places kept", () => {
  const values = { header: ' https://p.example/a.jpg ', 'body:1': 'Ana', 'body:2': 'PX-9', 'button:0': 'PX-9', 'button:2': '' };
  assert.deepEqual(tf.fillOf(readyTemplate, values), {
    name: 'parcel_ready',
    language: 'en_US',
    header: { image: { link: 'https://p.example/a.jpg' } },
    body: ['Ana', 'PX-9'],
    buttons: [{ index: 0, sub_type: 'url', value: 'PX-9' }],
  });
  assert.deepEqual(tf.fillOf(readyTemplate, { header: '4490709327384033' }, 'id').header, { image: { id: '4490709327384033' } });
  assert.deepEqual(tf.fillOf(readyTemplate, { 'body:2': 'PX' }).body, ['', 'PX']);
  assert.deepEqual(tf.fillOf(readyTemplate, {}), { name: 'parcel_ready', language: 'en_US' });
  assert.equal(tf.complete(readyTemplate, values), true);
  assert.equal(tf.complete(readyTemplate, { ...values, 'body:2': ' ' }), false);
  const sale = {
    name: 'spring_sale',
    language: 'en_US',
    form: {
      parameter_format: 'NAMED',
      header: { format: 'TEXT', text: 'Sale for {{who}}', parameter: 'who' },
      body: 'Hi {{first_name}}',
      body_parameters: ['first_name'],
      footer: null,
      buttons: [],
    },
  };
  assert.deepEqual(tf.fillOf(sale, { header: 'Ana', 'body:first_name': 'Ana' }), {
    name: 'spring_sale',
    language: 'en_US',
    header: { text: 'Ana' },
    body: { first_name: 'Ana' },
  });
  assert.deepEqual(tf.draftPreview(sale, { 'body:first_name': 'Ana' }), {
    header: { format: 'TEXT', text: 'Sale for {{who}}' },
    body: 'Hi Ana',
    footer: null,
    buttons: [],
  });
});

test('the draft preview fills what is given and keeps the placeholders of the rest', () => {
  const draft = tf.draftPreview(readyTemplate, { 'body:1': 'Ana', 'button:0': 'PX-9' });
  assert.deepEqual(draft.header, { format: 'IMAGE' });
  assert.equal(draft.body, 'Hi Ana, parcel {{2}} is ready.');
  assert.equal(draft.footer, 'Parcels Inc.');
  assert.deepEqual(draft.buttons[0], { type: 'URL', text: 'Track', url: 'https://p.example/t/PX-9' });
  assert.deepEqual(draft.buttons[2], { type: 'QUICK_REPLY', text: 'Talk to us' });
});
