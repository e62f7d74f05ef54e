#!/usr/bin/env node
// Tests of the console's pure logic (lib/model.js: events in sequence order, lists, merges;
// lib/zoned.js: wall-clock times in a time zone) with node's test runner.
//
//   node --test console/tools/test-model.mjs
//
// The console's modules are plain .js files with ES module syntax and no package.json (the
// gateway serves the folder as it is), so they are copied to a temporary folder that says
// "type": "module" and imported from there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
const dir = mkdtempSync(join(tmpdir(), 'console-model-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
for (const f of ['model.js', 'zoned.js']) copyFileSync(join(lib, f), join(dir, f));
const model = await import(pathToFileURL(join(dir, 'model.js')).href);
const zoned = await import(pathToFileURL(join(dir, 'zoned.js')).href);

const conv = (id, extra = {}) => ({
  id,
  status: 'assigned',
  assignee: 'alice',
  team: 'support',
  customer: { id: '346000' + id, name: 'C' + id, phone: '346000' + id },
  updated_at: 1000,
  ...extra,
});
const ev = (seq, kind, data) => ({ type: 'event', seq, kind, at: 1, data });
const start = (extra = {}) => ({ ...model.emptyWorkspace(), ...extra });

test('events apply in sequence order; a sequence already applied is ignored', () => {
  let s = start({ lastSeq: 10 });
  const a = model.applyEvent(s, ev(11, 'conversation.assigned', { conversation: conv('a') }), { meId: 'alice' });
  assert.equal(a.state.lastSeq, 11);
  assert.ok(a.state.conversations.a);
  const again = model.applyEvent(a.state, ev(11, 'conversation.updated', { conversation: conv('a', { status: 'resolved' }) }));
  assert.equal(again.ignored, true);
  assert.equal(again.state, a.state);
  const old = model.applyEvent(a.state, ev(3, 'conversation.updated', { conversation: conv('a', { status: 'resolved' }) }));
  assert.equal(old.ignored, true);
  assert.equal(old.state.conversations.a.status, 'assigned');
});

test('a gap in the sequence asks for a resync', () => {
  const s = start({ lastSeq: 10 });
  const r = model.applyEvent(s, ev(13, 'conversation.updated', { conversation: conv('a') }));
  assert.deepEqual(r.effects, ['resync', 'me']);
  assert.equal(r.state.lastSeq, 13);
  // From nothing (a fresh start before hello), no gap is assumed.
  assert.deepEqual(model.applyEvent(start(), ev(40, 'conversation.updated', { conversation: conv('a') })).effects, ['me']);
});

test('malformed frames change nothing', () => {
  const s = start({ lastSeq: 1 });
  for (const f of [null, {}, { seq: 'x' }, { seq: NaN }, ev(2, 'conversation.assigned', { conversation: { no: 'id' } })]) {
    const r = model.applyEvent(s, f);
    assert.equal(r.state.conversations && Object.keys(r.state.conversations).length, 0);
  }
});

test('an offer shows until assigned, updated or answered', () => {
  let s = start({ lastSeq: 1 });
  let r = model.applyEvent(s, ev(2, 'conversation.offered', { conversation: conv('o', { status: 'waiting', assignee: null }), expires_at: 5000 }));
  assert.deepEqual(r.effects, ['offer']);
  assert.equal(r.state.offers.o.expires_at, 5000);
  r = model.applyEvent(r.state, ev(3, 'conversation.updated', { conversation: conv('o', { status: 'waiting', assignee: null }), reason: 'offer_expired' }));
  assert.equal(r.state.offers.o, undefined);
  r = model.applyEvent(r.state, ev(4, 'conversation.offered', { conversation: conv('o', { status: 'waiting', assignee: null }), expires_at: 9000 }));
  r = model.applyEvent(r.state, ev(5, 'conversation.assigned', { conversation: conv('o') }));
  assert.equal(r.state.offers.o, undefined);
  assert.equal(r.state.conversations.o.status, 'assigned');
});

test('/me drops offers it no longer lists, but not one an event added since', () => {
  let s = start({ lastSeq: 1 });
  s = model.applyEvent(s, ev(2, 'conversation.offered', { conversation: conv('x'), expires_at: 1 })).state;
  const started = s.clock;
  s = model.applyEvent(s, ev(3, 'conversation.offered', { conversation: conv('y'), expires_at: 1 })).state;
  s = model.reconcileOffers(s, [], started);
  assert.deepEqual(Object.keys(s.offers), ['y']);
});

test('message.created appends once, counts unread unless open and seen, bumps the row', () => {
  let s = start({ lastSeq: 1, conversations: { a: conv('a'), b: conv('b') } });
  s.openId = 'a';
  s.detail = { id: 'a', messages: [] };
  const m = (id, cid, extra = {}) => ({ id, conversation_id: cid, direction: 'inbound', sender: 'customer', kind: 'text', body: { type: 'text', body: 'hi ' + id }, status: 'received', created_at: 2000, ...extra });
  s = model.applyEvent(s, ev(2, 'message.created', { conversation_id: 'a', message: m('m1', 'a') }), { hidden: false }).state;
  s = model.applyEvent(s, ev(3, 'message.created', { conversation_id: 'a', message: m('m1', 'a') }), { hidden: false }).state;
  assert.equal(s.detail.messages.length, 1);
  assert.equal(s.unread.a, undefined);
  s = model.applyEvent(s, ev(4, 'message.created', { conversation_id: 'b', message: m('m2', 'b') })).state;
  s = model.applyEvent(s, ev(5, 'message.created', { conversation_id: 'a', message: m('m3', 'a', { created_at: 2500 }) }), { hidden: true }).state;
  assert.deepEqual(s.unread, { b: 1, a: 1 });
  assert.equal(model.unreadTotal(s), 2);
  assert.equal(s.conversations.a.updated_at, 2500);
  assert.equal(s.previews.b.text, 'hi m2');
  // Outbound and notes are not unread.
  s = model.applyEvent(s, ev(6, 'message.created', { conversation_id: 'b', message: m('m4', 'b', { direction: 'outbound' }) })).state;
  assert.equal(s.unread.b, 1);
});

test('message.status moves ticks forward only, failed wins, unknown ids reload', () => {
  let s = start({ lastSeq: 1 });
  s.detail = { id: 'a', messages: [{ id: 'm', provider_id: 'wamid.1', direction: 'outbound', status: 'sent', created_at: 1 }] };
  const st = (seq, status, pid = 'wamid.1') => ev(seq, 'message.status', { conversation_id: 'a', provider_id: pid, status, error_code: null });
  s = model.applyEvent(s, st(2, 'read')).state;
  assert.equal(s.detail.messages[0].status, 'read');
  s = model.applyEvent(s, st(3, 'delivered')).state;
  assert.equal(s.detail.messages[0].status, 'read');
  const r = model.applyEvent(s, st(4, 'delivered', 'wamid.unknown'));
  assert.deepEqual(r.effects, ['detail']);
  const f = model.applyEvent(r.state, st(5, 'failed'));
  assert.equal(f.state.detail.messages[0].status, 'failed');
  assert.deepEqual(f.effects, ['detail']);
});

test('betterStatus', () => {
  assert.equal(model.betterStatus('queued', 'sent'), 'sent');
  assert.equal(model.betterStatus('delivered', 'sent'), 'delivered');
  assert.equal(model.betterStatus('read', 'failed'), 'failed');
  assert.equal(model.betterStatus('failed', 'read'), 'failed');
  assert.equal(model.betterStatus(undefined, 'queued'), 'queued');
});

test('presence.changed updates me and the rosters', () => {
  let s = start({ lastSeq: 1, me: { user: { id: 'alice' }, agent: { presence: 'online' } }, teams: [{ id: 'support', agents: [{ id: 'alice', presence: 'online' }, { id: 'bob', presence: 'online' }] }] });
  s = model.applyEvent(s, ev(2, 'presence.changed', { agent: 'alice', presence: 'away' }), { meId: 'alice' }).state;
  const r = model.applyEvent(s, ev(3, 'presence.changed', { agent: 'bob', presence: 'offline' }), { meId: 'alice' });
  s = r.state;
  assert.equal(s.me.agent.presence, 'away');
  assert.deepEqual(s.teams[0].agents.map((a) => a.presence), ['away', 'offline']);
  // The board reloads the teams on it (loads and queues move with presence).
  assert.deepEqual(r.effects, ['presence']);
  // An agent in no roster changes no team.
  const other = model.setAgentPresence(s, 'zoe', 'online');
  assert.equal(other, s);
});

test('views by role: the board for supervisors and admins, administration for admins', () => {
  assert.deepEqual(model.allowedViews({ role: 'agent' }), ['inbox']);
  assert.deepEqual(model.allowedViews({ role: 'supervisor' }), ['inbox', 'board', 'reports', 'contacts', 'campaigns']);
  assert.deepEqual(model.allowedViews({ role: 'admin' }), ['inbox', 'board', 'reports', 'contacts', 'campaigns', 'admin']);
  assert.deepEqual(model.allowedViews(null), ['inbox']);
  assert.deepEqual(model.allowedViews({ role: 'root' }), ['inbox']);
  assert.equal(model.viewFor({ role: 'agent' }, 'admin'), 'inbox');
  assert.equal(model.viewFor({ role: 'supervisor' }, 'admin'), 'inbox');
  assert.equal(model.viewFor({ role: 'supervisor' }, 'board'), 'board');
  assert.equal(model.viewFor({ role: 'supervisor' }, 'reports'), 'reports');
  assert.equal(model.viewFor({ role: 'supervisor' }, 'campaigns'), 'campaigns');
  assert.equal(model.viewFor({ role: 'agent' }, 'campaigns'), 'inbox');
  assert.equal(model.viewFor({ role: 'agent' }, 'reports'), 'inbox');
  assert.equal(model.viewFor({ role: 'admin' }, 'admin'), 'admin');
  assert.equal(model.viewFor({ role: 'admin' }, undefined), 'inbox');
});

test('managesTeam: admins every team, supervisors theirs, agents none', () => {
  const sam = { id: 'sam', role: 'supervisor', supervises: ['support'] };
  assert.equal(model.managesTeam(sam, 'support'), true);
  assert.equal(model.managesTeam(sam, 'sales'), false);
  assert.equal(model.managesTeam({ id: 'a', role: 'admin' }, 'sales'), true);
  assert.equal(model.managesTeam({ id: 'a', role: 'admin' }, null), false);
  // An agent listed as supervising (a demoted user) manages nothing.
  assert.equal(model.managesTeam({ id: 'x', role: 'agent', supervises: ['support'] }, 'support'), false);
  // Before /me answers, a supervisor's teams are unknown: nothing is offered.
  assert.equal(model.managesTeam({ id: 'sam', role: 'supervisor' }, 'support'), false);
});

test('conversationPermissions follow the policy: reply and snooze for the holder only', () => {
  const alice = { id: 'alice', role: 'agent', teams: ['support'] };
  const bob = { id: 'bob', role: 'agent', teams: ['support'] };
  const sam = { id: 'sam', role: 'supervisor', supervises: ['support'] };
  const other = { id: 'olga', role: 'supervisor', supervises: ['sales'] };
  const ada = { id: 'ada', role: 'admin' };
  const all = (v) => ({ reply: v, note: v, transfer: v, resolve: v, snooze: v });
  const c = conv('a'); // assigned to alice, in support
  assert.deepEqual(model.conversationPermissions(alice, c), all(true));
  // A teammate sees it, may do nothing with it.
  assert.deepEqual(model.conversationPermissions(bob, c), all(false));
  // A supervisor of the team: note, transfer (reassign), resolve; never reply or snooze.
  assert.deepEqual(model.conversationPermissions(sam, c), { reply: false, note: true, transfer: true, resolve: true, snooze: false });
  assert.deepEqual(model.conversationPermissions(ada, c), { reply: false, note: true, transfer: true, resolve: true, snooze: false });
  // A supervisor of another team: as an agent.
  assert.deepEqual(model.conversationPermissions(other, c), all(false));
  // Waiting in the queue: the supervisor may place it; nobody replies.
  const waiting = conv('w', { status: 'waiting', assignee: null });
  assert.deepEqual(model.conversationPermissions(sam, waiting), { reply: false, note: true, transfer: true, resolve: true, snooze: false });
  assert.deepEqual(model.conversationPermissions(alice, waiting), all(false));
  // Snoozed by alice: she may resolve it or write a note, not reply or move it.
  const snoozed = conv('s', { status: 'snoozed' });
  assert.deepEqual(model.conversationPermissions(alice, snoozed), { reply: false, note: true, transfer: false, resolve: true, snooze: false });
  // Resolved: notes only, for whoever may write them.
  const resolved = conv('r', { status: 'resolved' });
  assert.deepEqual(model.conversationPermissions(alice, resolved), { reply: false, note: true, transfer: false, resolve: false, snooze: false });
  assert.deepEqual(model.conversationPermissions(sam, resolved), { reply: false, note: true, transfer: false, resolve: false, snooze: false });
  // Still with the bot (no team): an admin may write a note, nothing else.
  const bot = conv('b', { status: 'bot', assignee: null, team: null });
  assert.deepEqual(model.conversationPermissions(ada, bot), { reply: false, note: true, transfer: false, resolve: false, snooze: false });
  // Nothing known: nothing offered.
  assert.deepEqual(model.conversationPermissions(null, c), all(false));
  assert.deepEqual(model.conversationPermissions(alice, null), all(false));
});

test('a REST answer never undoes a later event', () => {
  let s = start({ lastSeq: 1 });
  const started = s.clock;
  s = model.applyEvent(s, ev(2, 'conversation.updated', { conversation: conv('a', { status: 'resolved', updated_at: 1000 }) })).state;
  // The list was asked for before the event and answers with the older state.
  s = model.applyList(s, 'mine', [conv('a', { status: 'assigned', updated_at: 1000 }), conv('b')], started);
  assert.equal(s.conversations.a.status, 'resolved');
  assert.equal(s.conversations.b.status, 'assigned');
  assert.deepEqual(s.lists.mine.ids, ['a', 'b']);
  // One that shows a later update wins.
  s = model.applyList(s, 'mine', [conv('a', { status: 'assigned', updated_at: 3000 })], started);
  assert.equal(s.conversations.a.status, 'assigned');
  // One asked for after the event wins too.
  s = model.applyList(s, 'mine', [conv('a', { status: 'snoozed', updated_at: 3000 })], s.clock);
  assert.equal(s.conversations.a.status, 'snoozed');
});

test('tabs: Mine, listable team inboxes, Waiting; rows follow events', () => {
  const tabs = model.buildTabs('alice', [
    { id: 'support', name: 'Support', queue_length: 2 },
    { id: 'vip', name: 'VIP', private: true, queue_length: null },
  ]);
  assert.deepEqual(tabs.map((x) => x.key), ['mine', 'team:support', 'waiting']);
  let s = start({ lastSeq: 1 });
  s = model.applyList(s, 'mine', [conv('a', { updated_at: 1 }), conv('b', { updated_at: 5 })], 0);
  assert.deepEqual(model.listRows(s, tabs[0]).map((c) => c.id), ['b', 'a']);
  // An event resolves a; another assigns c to me: the list follows without REST.
  s = model.applyEvent(s, ev(2, 'conversation.updated', { conversation: conv('a', { status: 'resolved' }) })).state;
  s = model.applyEvent(s, ev(3, 'conversation.assigned', { conversation: conv('c', { updated_at: 9 }) })).state;
  assert.deepEqual(model.listRows(s, tabs[0]).map((c) => c.id), ['c', 'b']);
  assert.deepEqual(model.listRows(s, tabs[1]).map((c) => c.id), ['c', 'b']);
  assert.deepEqual(model.listRows(s, tabs[2]).map((c) => c.id), []);
  // A search shows exactly what it found.
  const search = { key: 'search:q=12', queries: [{ q: '12' }], match: null };
  s = model.applyList(s, search.key, [conv('a', { status: 'resolved' })], s.clock);
  assert.deepEqual(model.listRows(s, search).map((c) => c.id), ['a']);
});

test('applyDetail merges with messages that came by event meanwhile', () => {
  let s = start({ lastSeq: 1, openId: 'a' });
  s.detail = { id: 'a', loading: true, messages: [{ id: 'm2', status: 'delivered', created_at: 2 }] };
  s = model.applyDetail(
    s,
    { conversation: conv('a'), messages: [{ id: 'm1', created_at: 1 }, { id: 'm2', status: 'sent', provider_id: 'w', created_at: 2 }], contact: { name: 'Ana' }, history: [], events: [] },
    0,
  );
  assert.equal(s.detail.loading, false);
  assert.deepEqual(s.detail.messages.map((m) => [m.id, m.status, m.provider_id]), [['m1', undefined, undefined], ['m2', 'delivered', 'w']]);
  // Another conversation was opened meanwhile: the answer is dropped.
  const other = model.applyDetail(s, { conversation: conv('z'), messages: [] }, 0);
  assert.equal(other, s);
});

test('messageText and isMasked', () => {
  assert.equal(model.messageText({ type: 'text', body: 'hola' }), 'hola');
  assert.equal(model.messageText({ type: 'media', kind: 'image', caption: 'pic' }), 'pic');
  assert.equal(model.messageText({ type: 'button_reply', id: 'x', title: 'Yes' }), 'Yes');
  assert.equal(model.messageText({ type: 'location', latitude: 1, longitude: 2, name: 'Home', address: 'Main St' }), 'Home, Main St');
  assert.equal(model.messageText(null), '');
  assert.equal(model.isMasked('+34 6•• ••• •12'), true);
  assert.equal(model.isMasked('34600000012'), false);
});

test('zonedToUtc and snooze choices in the user time zone', () => {
  // 2025-11-24 is a Monday. 09:00 in Madrid (UTC+1 in winter) is 08:00Z.
  assert.equal(new Date(zoned.zonedToUtc(2025, 11, 25, 9, 0, 'Europe/Madrid')).toISOString(), '2025-11-25T08:00:00.000Z');
  // Summer time: UTC+2.
  assert.equal(new Date(zoned.zonedToUtc(2025, 7, 1, 9, 0, 'Europe/Madrid')).toISOString(), '2025-07-01T07:00:00.000Z');
  // The day a clock changes (Madrid, 2025-03-30 02:00 -> 03:00): 09:00 is already UTC+2.
  assert.equal(new Date(zoned.zonedToUtc(2025, 3, 30, 9, 0, 'Europe/Madrid')).toISOString(), '2025-03-30T07:00:00.000Z');
  // Day overflow: 32 November is 2 December.
  assert.equal(new Date(zoned.zonedToUtc(2025, 11, 32, 9, 0, 'UTC')).toISOString(), '2025-12-02T09:00:00.000Z');
  const now = Date.parse('2025-11-26T22:30:00Z'); // Wednesday 23:30 in Madrid
  const c = zoned.snoozeChoices(now, 'Europe/Madrid');
  assert.equal(c.hour, now + 3_600_000);
  assert.equal(new Date(c.tomorrow).toISOString(), '2025-11-27T08:00:00.000Z');
  assert.equal(new Date(c.next_week).toISOString(), '2025-12-01T08:00:00.000Z');
  // The same instant in Tokyo is Thursday 07:30: tomorrow is Friday, next week Monday 1 Dec.
  const tokyo = zoned.snoozeChoices(now, 'Asia/Tokyo');
  assert.equal(new Date(tokyo.tomorrow).toISOString(), '2025-11-28T00:00:00.000Z');
  assert.equal(new Date(tokyo.next_week).toISOString(), '2025-12-01T00:00:00.000Z');
  // On a Monday, next week is the Monday after.
  const monday = zoned.snoozeChoices(Date.parse('2025-11-24T12:00:00Z'), 'UTC');
  assert.equal(new Date(monday.next_week).toISOString(), '2025-12-01T09:00:00.000Z');
  // On a Sunday, not tomorrow again: the Monday a week later.
  const sunday = zoned.snoozeChoices(Date.parse('2025-11-30T12:00:00Z'), 'UTC');
  assert.equal(new Date(sunday.tomorrow).toISOString(), '2025-12-01T09:00:00.000Z');
  assert.equal(new Date(sunday.next_week).toISOString(), '2025-12-08T09:00:00.000Z');
  // Saturday: Monday in two days.
  const saturday = zoned.snoozeChoices(Date.parse('2025-11-29T12:00:00Z'), 'UTC');
  assert.equal(new Date(saturday.next_week).toISOString(), '2025-12-01T09:00:00.000Z');
  assert.equal(zoned.rfc3339(Date.parse('2025-12-01T09:00:00.123Z')), '2025-12-01T09:00:00Z');
  assert.equal(zoned.validTimeZone('Nowhere/Land'), undefined);
  assert.equal(zoned.validTimeZone('Europe/Madrid'), 'Europe/Madrid');
  assert.equal(zoned.dayKey(Date.parse('2025-11-26T23:30:00Z'), 'Asia/Tokyo'), '2025-11-27');
});

test('news moves a team inbox on, unless what we know is newer; it never counts as unread', () => {
  let s = start({ lastSeq: 3 });
  s = model.applyNews(s, conv('t1', { status: 'waiting', assignee: null, updated_at: 2000 }));
  assert.equal(s.conversations.t1.status, 'waiting');
  assert.equal(s.lastSeq, 3, 'news is not sequenced');
  const older = model.applyNews(s, conv('t1', { status: 'waiting', updated_at: 1500 }));
  assert.equal(older, s, 'an older state is ignored');
  s = model.applyNews(s, conv('t1', { status: 'assigned', assignee: 'bob', updated_at: 2500 }));
  assert.equal(s.conversations.t1.assignee, 'bob');
  assert.deepEqual(s.unread, {});
  assert.equal(model.applyNews(s, null), s);
  assert.equal(model.applyNews(s, { status: 'x' }), s, 'no id: ignored');
});

test('live frames change only the open transcript of a watched conversation', () => {
  const message = (id, extra = {}) => ({
    id,
    conversation_id: 'w',
    direction: 'inbound',
    body: { type: 'text', body: 'hi ' + id },
    created_at: 10,
    ...extra,
  });
  let s = start({ detail: { id: 'w', conversation: conv('w'), messages: [message('m1')] } });
  const created = { type: 'live', kind: 'message.created', data: { conversation_id: 'w', message: message('m2', { direction: 'outbound', provider_id: 'wamid.2', status: 'accepted' }) } };
  s = model.applyLive(s, created);
  assert.deepEqual(s.detail.messages.map((m) => m.id), ['m1', 'm2']);
  assert.equal(model.applyLive(s, created).detail.messages.length, 2, 'twice: once');
  assert.deepEqual(s.unread, {}, 'not unread');
  s = model.applyLive(s, { type: 'live', kind: 'message.status', data: { conversation_id: 'w', provider_id: 'wamid.2', status: 'delivered' } });
  assert.equal(s.detail.messages[1].status, 'delivered');
  const other = { type: 'live', kind: 'message.created', data: { conversation_id: 'x', message: message('m9') } };
  assert.equal(model.applyLive(s, other), s, 'another conversation: nothing');
  assert.equal(model.applyLive(start(), created).detail, null, 'nothing open: nothing');
});
