#!/usr/bin/env node
// Tests of what notifies (lib/notify-model.js) with node's test runner:
//
//   node --test console/tools/test-notify.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
const dir = mkdtempSync(join(tmpdir(), 'console-notify-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
copyFileSync(join(lib, 'notify-model.js'), join(dir, 'notify-model.js'));
const n = await import(pathToFileURL(join(dir, 'notify-model.js')).href);

const conv = (id, assignee = 'alice') => ({ id, assignee, customer: { name: `Customer ${id}` } });
const state = { conversations: { c1: conv('c1'), c2: conv('c2', 'bob') } };

test('an offer, an assignment to me and a customer message in my conversation notify', () => {
  assert.deepEqual(n.noticeFor({ kind: 'conversation.offered', data: { conversation: conv('c9', null) } }, state, 'alice'), {
    kind: 'offer',
    conversationId: 'c9',
    customer: 'Customer c9',
  });
  assert.equal(n.noticeFor({ kind: 'conversation.assigned', data: { conversation: conv('c1') } }, state, 'alice').kind, 'assignment');
  const inbound = { kind: 'message.created', data: { conversation_id: 'c1', message: { direction: 'inbound' } } };
  assert.equal(n.noticeFor(inbound, state, 'alice').kind, 'message');
  // A breach reaches only the team's supervisors and the agent who has it: each is told.
  const breach = { kind: 'conversation.sla_breached', data: { conversation: conv('c2', 'bob'), clocks: ['first_response'] } };
  assert.deepEqual(n.noticeFor(breach, state, 'sam'), { kind: 'sla', conversationId: 'c2', customer: 'Customer c2' });
  assert.equal(n.noticeFor({ kind: 'conversation.sla_breached', data: {} }, state, 'sam'), null);
});

test('what is not mine or not from the customer does not notify', () => {
  const msg = (cid, direction) => ({ kind: 'message.created', data: { conversation_id: cid, message: { direction } } });
  assert.equal(n.noticeFor(msg('c2', 'inbound'), state, 'alice'), null, 'bob’s conversation');
  assert.equal(n.noticeFor(msg('c1', 'outbound'), state, 'alice'), null);
  assert.equal(n.noticeFor(msg('c1', 'note'), state, 'alice'), null);
  assert.equal(n.noticeFor(msg('unknown', 'inbound'), state, 'alice'), null);
  assert.equal(n.noticeFor({ kind: 'conversation.assigned', data: { conversation: conv('c2', 'bob') } }, state, 'alice'), null);
  assert.equal(n.noticeFor({ kind: 'conversation.updated', data: { conversation: conv('c1') } }, state, 'alice'), null);
  assert.equal(n.noticeFor({ kind: 'conversation.offered', data: {} }, state, 'alice'), null);
  assert.equal(n.noticeFor(null, state, 'alice'), null);
});

test('settings choose the events', () => {
  assert.equal(n.wanted(n.DEFAULT_SETTINGS, 'offer'), true);
  const quiet = { ...n.DEFAULT_SETTINGS, events: { offer: true, assignment: false, message: false } };
  assert.equal(n.wanted(quiet, 'offer'), true);
  assert.equal(n.wanted(quiet, 'assignment'), false);
  assert.equal(n.wanted(quiet, 'message'), false);
  assert.equal(n.wanted(null, 'message'), true, 'defaults before the server answered');
});

test('a pending offer reminds every few seconds until it expires or goes', () => {
  const now = 100_000;
  const offers = { a: { expires_at: now + 20_000 }, b: { expires_at: now - 1 }, c: { expires_at: null } };
  assert.deepEqual(n.offersToRemind(offers, {}, now), ['a', 'c'], 'never sounded: now; expired: never');
  assert.deepEqual(n.offersToRemind(offers, { a: now - 1000, c: now - n.REMIND_MS }, now), ['c']);
  assert.deepEqual(n.offersToRemind({}, { a: now - 60_000 }, now), [], 'gone (accepted, rejected): silent');
});

test('the VAPID key becomes the bytes applicationServerKey takes', () => {
  const bytes = n.keyBytes('BAEC_-8');
  assert.deepEqual([...bytes], [4, 1, 2, 255, 239]);
});
