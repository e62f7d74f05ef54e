#!/usr/bin/env node
// Tests of the board's and the administration screens' pure logic (lib/admin-model.js): forms
// to request bodies (a PATCH sends only what changed), audit pages, filters and differences,
// the reload report, wait times. Like test-model.mjs, the modules are copied to a temporary
// folder that says "type": "module".
//
//   node --test console/tools/test-admin.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
const dir = mkdtempSync(join(tmpdir(), 'console-admin-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
for (const f of ['admin-model.js', 'zoned.js', 'contact-fields.js']) copyFileSync(join(lib, f), join(dir, f));
const m = await import(pathToFileURL(join(dir, 'admin-model.js')).href);
const cf = await import(pathToFileURL(join(dir, 'contact-fields.js')).href);

const alice = {
  id: 'alice', name: 'Alice Martin', email: 'alice@example.com', role: 'agent', language: 'en',
  time_zone: 'UTC', active: true, capacity: 3, teams: ['support'], supervises: [], locked_until: null,
};

test('clockDuration and oldestWait', () => {
  assert.equal(m.clockDuration(0), '0:00');
  assert.equal(m.clockDuration(65_400), '1:05');
  assert.equal(m.clockDuration(3_723_000), '1:02:03');
  assert.equal(m.clockDuration(49 * 3_600_000), '49:00:00');
  assert.equal(m.clockDuration(-5), '0:00');
  assert.equal(m.clockDuration('x'), '0:00');
  assert.equal(m.oldestWait({ oldest_arrival: 1000 }, 61_000), 60_000);
  assert.equal(m.oldestWait({ oldest_arrival: 5000 }, 1000), 0); // clocks apart: never negative
  assert.equal(m.oldestWait({ oldest_arrival: null }, 1000), null);
  assert.equal(m.timeInStatus({ presence_since: 1000 }, 61_000), 60_000);
  assert.equal(m.timeInStatus({ presence_since: 5000 }, 1000), 0);
  assert.equal(m.timeInStatus({ presence_since: null }, 1000), null);
  assert.equal(m.timeInStatus({}, 1000), null);
  assert.equal(m.oldestWait(null, 1000), null);
});

test('boardTotals counts each agent once', () => {
  const teams = [
    { id: 'support', queue_length: 2, agents: [{ id: 'alice', presence: 'online' }, { id: 'bob', presence: 'away' }] },
    { id: 'billing', queue_length: 1, agents: [{ id: 'bob', presence: 'away' }] },
    { id: 'vip', queue_length: null, agents: [{ id: 'carla', presence: 'online' }] },
  ];
  assert.deepEqual(m.boardTotals(teams), { waiting: 3, online: 2, agents: 3 });
  assert.deepEqual(m.boardTotals([]), { waiting: 0, online: 0, agents: 0 });
});

test('isLocked and wholeNumber', () => {
  assert.equal(m.isLocked({ locked_until: 2000 }, 1000), true);
  assert.equal(m.isLocked({ locked_until: 500 }, 1000), false);
  assert.equal(m.isLocked({ locked_until: null }, 1000), false);
  assert.equal(m.wholeNumber(' 7 ', 0, 10), 7);
  assert.equal(m.wholeNumber('11', 0, 10), null);
  assert.equal(m.wholeNumber('1.5', 0, 10), null);
  assert.equal(m.wholeNumber('-1', 0, 10), null);
  assert.equal(m.wholeNumber('', 0, 10), null);
});

test('a new user: trimmed, optional fields left out', () => {
  const form = { ...m.userForm(), name: ' Dana ', email: ' dana@example.com ', teams: ['support'] };
  assert.deepEqual(m.userBody(form).body, {
    name: 'Dana', email: 'dana@example.com', role: 'agent', language: 'en', time_zone: 'UTC',
    capacity: 3, teams: ['support'], supervises: [],
  });
  const full = { ...form, id: 'dana', password: 'long-enough-1', role: 'supervisor', supervises: ['sales'], capacity: '0' };
  const body = m.userBody(full).body;
  assert.equal(body.id, 'dana');
  assert.equal(body.password, 'long-enough-1');
  assert.equal(body.capacity, 0);
  assert.deepEqual(body.supervises, ['sales']);
});

test('a user form refuses what the API would, naming the field', () => {
  const ok = { ...m.userForm(), name: 'Dana', email: 'dana@example.com' };
  const bad = (patch) => m.userBody({ ...ok, ...patch });
  assert.deepEqual(bad({ name: '  ' }), { error: 'admin.error_name', field: 'name' });
  assert.deepEqual(bad({ email: 'dana' }), { error: 'admin.error_email', field: 'email' });
  assert.deepEqual(bad({ email: 'da na@example.com' }), { error: 'admin.error_email', field: 'email' });
  assert.deepEqual(bad({ capacity: '101' }), { error: 'admin.error_capacity', field: 'capacity' });
  assert.deepEqual(bad({ capacity: 'three' }), { error: 'admin.error_capacity', field: 'capacity' });
  assert.deepEqual(bad({ password: 'short' }), { error: 'admin.error_password', field: 'password' });
  assert.deepEqual(bad({ id: 'Dana' }), { error: 'admin.error_id', field: 'id' });
  assert.deepEqual(bad({ id: '-dana' }), { error: 'admin.error_id', field: 'id' });
  assert.equal(bad({ id: 'dana.r_2-x' }).body.id, 'dana.r_2-x');
});

test('editing a user sends only what changed', () => {
  const form = m.userForm(alice);
  assert.deepEqual(m.userBody(form, alice), { body: null });
  // The same teams in another order are no change.
  const same = { ...form, teams: ['support'] };
  assert.deepEqual(m.userBody(same, { ...alice, teams: ['support'] }), { body: null });
  const changed = { ...form, role: 'supervisor', supervises: ['support', 'sales'], capacity: '5', time_zone: 'Europe/Madrid' };
  assert.deepEqual(m.userBody(changed, alice).body, {
    role: 'supervisor', time_zone: 'Europe/Madrid', capacity: 5, supervises: ['support', 'sales'],
  });
  // Leaving a team.
  assert.deepEqual(m.userBody({ ...form, teams: [] }, alice).body, { teams: [] });
  // The id never goes in a PATCH, even if the form has one.
  assert.equal('id' in (m.userBody({ ...form, name: 'Alice M.' }, alice).body), false);
  // A new password, and unlocking a locked user.
  const locked = { ...alice, locked_until: 99 };
  assert.deepEqual(m.userBody({ ...m.userForm(locked), unlock: true, password: 'a-new-password' }, locked).body, {
    password: 'a-new-password', locked_until: null,
  });
  // Unlock on someone not locked: nothing to send.
  assert.deepEqual(m.userBody({ ...form, unlock: true }, alice), { body: null });
});

const support = {
  id: 'support', name: 'Customer support', description: null, strategy: 'least_busy', offer_timeout_seconds: 0,
  overflow: { team: 'billing', after_seconds: 600 }, max_queue: 10000, private: false, mask_numbers: null,
  members: ['alice', 'bob'], supervisors: ['sam'],
};

test('a new team: required id and name, unset fields left out', () => {
  const form = { ...m.teamForm(), id: 'vip', name: ' VIP ', private: true, members: ['carla'] };
  assert.deepEqual(m.teamBody(form).body, {
    id: 'vip', name: 'VIP', strategy: 'round_robin', offer_timeout_seconds: 0, max_queue: 10000,
    private: true, members: ['carla'], supervisors: [],
  });
  const more = { ...form, overflow_team: 'support', overflow_after: '120', mask_numbers: 'true', description: 'Top customers' };
  const body = m.teamBody(more).body;
  assert.deepEqual(body.overflow, { team: 'support', after_seconds: 120 });
  assert.equal(body.mask_numbers, true);
  assert.equal(body.description, 'Top customers');
  assert.equal(m.teamBody({ ...form, mask_numbers: 'false' }).body.mask_numbers, false);
});

test('a team form refuses what the API would', () => {
  const ok = { ...m.teamForm(), id: 'vip', name: 'VIP' };
  const bad = (patch, before) => m.teamBody({ ...ok, ...patch }, before);
  assert.equal(bad({ id: '' }).error, 'admin.error_id');
  assert.equal(bad({ name: '' }).error, 'admin.error_name');
  assert.equal(bad({ offer_timeout_seconds: '3601' }).error, 'admin.error_timeout');
  assert.equal(bad({ max_queue: '0' }).error, 'admin.error_max_queue');
  assert.equal(bad({ overflow_team: 'vip', overflow_after: '10' }).error, 'admin.error_overflow_team');
  assert.equal(bad({ overflow_team: 'support', overflow_after: '0' }).error, 'admin.error_overflow_after');
  assert.equal(bad({ overflow_team: 'support', overflow_after: '' }).error, 'admin.error_overflow_after');
  // Editing: overflowing into itself is caught by its id too.
  assert.equal(m.teamBody({ ...m.teamForm(support), overflow_team: 'support' }, support).error, 'admin.error_overflow_team');
});

test('editing a team sends only what changed; overflow and masking can be unset', () => {
  const form = m.teamForm(support);
  assert.equal(form.overflow_team, 'billing');
  assert.equal(form.overflow_after, '600');
  assert.equal(form.mask_numbers, '');
  assert.deepEqual(m.teamBody(form, support), { body: null });
  assert.deepEqual(m.teamBody({ ...form, overflow_team: '' }, support).body, { overflow: null });
  assert.deepEqual(m.teamBody({ ...form, overflow_after: '60' }, support).body, { overflow: { team: 'billing', after_seconds: 60 } });
  assert.deepEqual(m.teamBody({ ...form, mask_numbers: 'true' }, support).body, { mask_numbers: true });
  const masked = { ...support, mask_numbers: false };
  assert.deepEqual(m.teamBody({ ...m.teamForm(masked), mask_numbers: '' }, masked).body, { mask_numbers: null });
  assert.deepEqual(m.teamBody({ ...form, strategy: 'round_robin', offer_timeout_seconds: '30' }, support).body, {
    strategy: 'round_robin', offer_timeout_seconds: 30,
  });
  assert.deepEqual(m.teamBody({ ...form, members: ['bob', 'alice'] }, support), { body: null });
  assert.deepEqual(m.teamBody({ ...form, members: ['alice'], supervisors: [] }, support).body, { members: ['alice'], supervisors: [] });
  assert.deepEqual(m.teamBody({ ...form, description: ' Help ' }, support).body, { description: 'Help' });
  assert.deepEqual(m.teamBody({ ...m.teamForm({ ...support, description: 'x' }), description: '' }, { ...support, description: 'x' }).body, { description: null });
});

test('SLA targets: whole hours in hours, else minutes', () => {
  assert.deepEqual(m.slaTarget(7200), { value: '2', unit: 'hours' });
  assert.deepEqual(m.slaTarget(90), { value: '1.5', unit: 'minutes' });
  assert.deepEqual(m.slaTarget(600), { value: '10', unit: 'minutes' });
  assert.deepEqual(m.slaTarget(null), { value: '', unit: 'minutes' });
  assert.deepEqual(m.slaTarget(0), { value: '', unit: 'minutes' });
});

test('SLA rows: any priority first, then the routing priorities highest first, and stale stored ones', () => {
  const rows = m.slaRows([
    { priority: 10, first_response_seconds: 60, next_response_seconds: null, resolution_seconds: 7200, business_hours: true },
    { priority: 3, resolution_seconds: 600 },
  ], [0, 10, 5]);
  assert.deepEqual(rows.map((r) => r.priority), [null, 10, 5, 3, 0]);
  assert.deepEqual(rows[1].first_response, { value: '1', unit: 'minutes' });
  assert.deepEqual(rows[1].resolution, { value: '2', unit: 'hours' });
  assert.equal(rows[1].next_response.value, '');
  assert.equal(rows[1].business_hours, true);
  assert.equal(rows[0].business_hours, false);
  assert.deepEqual(m.slaRows(undefined, undefined).map((r) => r.priority), [null]);
});

test('SLA policies: empty rows are none, targets in seconds, mistakes name their input', () => {
  const rows = m.slaRows([], [0, 10]);
  assert.deepEqual(m.slaPolicies(rows), { policies: [] });
  rows[0].first_response = { value: '5', unit: 'minutes' };
  rows[0].resolution = { value: '1,5', unit: 'hours' };
  rows[1].first_response = { value: ' 1 ', unit: 'minutes' };
  rows[1].business_hours = true;
  rows[2].business_hours = true; // no target: no policy
  assert.deepEqual(m.slaPolicies(rows).policies, [
    { priority: null, first_response_seconds: 300, next_response_seconds: null, resolution_seconds: 5400, business_hours: false },
    { priority: 10, first_response_seconds: 60, next_response_seconds: null, resolution_seconds: null, business_hours: true },
  ]);
  const bad = (value, unit = 'minutes') => m.slaPolicies([{ ...rows[0], next_response: { value, unit } }]);
  assert.deepEqual(bad('0'), { error: 'admin.sla_error_positive', field: 'sla-0-next_response' });
  assert.equal(bad('-5').error, 'admin.sla_error_positive');
  assert.equal(bad('soon').error, 'admin.sla_error_positive');
  assert.equal(bad('0.001').error, 'admin.sla_error_positive');
  assert.equal(bad('8785', 'hours').error, 'admin.sla_error_max');
  assert.equal(bad('8784', 'hours').error, undefined);
});

test('a team form sends its SLA policies only when they changed; clearing sends none', () => {
  const withSla = { ...support, sla: [{ priority: null, first_response_seconds: 600, next_response_seconds: null, resolution_seconds: null, business_hours: false }] };
  const form = m.teamForm(withSla, [0]);
  assert.deepEqual(m.teamBody(form, withSla), { body: null });
  const longer = { ...form, sla: form.sla.map((r, i) => (i === 0 ? { ...r, first_response: { value: '1', unit: 'hours' } } : r)) };
  assert.deepEqual(m.teamBody(longer, withSla).body, {
    sla: [{ priority: null, first_response_seconds: 3600, next_response_seconds: null, resolution_seconds: null, business_hours: false }],
  });
  const cleared = { ...form, sla: m.slaRows([], [0]) };
  assert.deepEqual(m.teamBody(cleared, withSla).body, { sla: [] });
  const wrong = { ...form, sla: form.sla.map((r, i) => (i === 1 ? { ...r, resolution: { value: '0', unit: 'hours' } } : r)) };
  assert.deepEqual(m.teamBody(wrong, withSla), { error: 'admin.sla_error_positive', field: 'sla-1-resolution' });
  // A new team: its policies when it has any.
  const created = { ...m.teamForm(null, [0]), id: 'vip', name: 'VIP' };
  assert.equal(m.teamBody(created).body.sla, undefined);
  created.sla[1].first_response = { value: '2', unit: 'minutes' };
  assert.deepEqual(m.teamBody(created).body.sla, [
    { priority: 0, first_response_seconds: 120, next_response_seconds: null, resolution_seconds: null, business_hours: false },
  ]);
});

test('audit filters: times read in the user time zone, blanks left out, paging', () => {
  assert.deepEqual(m.auditParams({ actor: ' ', action: '', from: '', to: '' }, 'UTC'), { limit: 50 });
  const p = m.auditParams({ actor: 'alice', action: 'user.', from: '2025-11-24T09:00', to: '2025-11-24T18:30' }, 'Europe/Madrid');
  assert.equal(p.actor, 'alice');
  assert.equal(p.action, 'user.');
  assert.equal(new Date(p.from).toISOString(), '2025-11-24T08:00:00.000Z');
  assert.equal(new Date(p.to).toISOString(), '2025-11-24T17:30:00.000Z');
  assert.equal(m.auditParams({}, 'UTC', 41).before, 41);
  assert.equal(m.auditParams({}, 'UTC', 0).before, 0);
  assert.equal(m.localInputToMs('nonsense', 'UTC'), null);
  assert.equal(m.localInputToMs('2025-13-01T00:00', 'UTC'), null);
  assert.equal(m.localInputToMs('2025-07-01T09:00', 'Asia/Tokyo'), Date.parse('2025-07-01T00:00:00Z'));
});

test('audit pages append, newest first, each entry once', () => {
  const first = [{ id: 9 }, { id: 8 }];
  assert.deepEqual(m.appendEntries(first, [{ id: 8 }, { id: 7 }, { id: 6 }]).map((e) => e.id), [9, 8, 7, 6]);
  assert.deepEqual(m.appendEntries([], [{ id: 1 }, { id: 3 }, null]).map((e) => e.id), [3, 1]);
});

test('auditDiff: the fields that changed, else null for whole values', () => {
  const before = { role: 'agent', teams: ['support'], capacity: 3, name: 'Alice' };
  const after = { role: 'supervisor', teams: ['support'], capacity: 3, name: 'Alice', supervises: ['sales'] };
  assert.deepEqual(m.auditDiff(before, after), [
    { key: 'role', before: '"agent"', after: '"supervisor"' },
    { key: 'supervises', before: undefined, after: '["sales"]' },
  ]);
  assert.deepEqual(m.auditDiff({ a: 1 }, { a: 1 }), []);
  assert.equal(m.auditDiff(null, { presence: 'away' }), null);
  assert.equal(m.auditDiff({ a: 1 }, null), null);
  assert.equal(m.auditDiff([1], [2]), null);
  assert.equal(m.prettyJson({ a: [1] }), '{\n  "a": [\n    1\n  ]\n}');
});

test('reloadSummary: what changed, what waits for a restart', () => {
  const same = m.reloadSummary({
    fingerprint: 'aa', previous_fingerprint: 'aa', flows: { added: [], removed: [], changed: [] },
    steps: { added: [], removed: [], changed: [] }, rules: { added: [], removed: [], changed: [] }, routing: [], needs_restart: [],
  });
  assert.equal(same.changed, false);
  assert.deepEqual(same.sections, []);
  const changed = m.reloadSummary({
    fingerprint: 'bb', previous_fingerprint: 'aa', flows: { added: ['sales'], removed: [], changed: ['default'] },
    steps: { added: [], removed: ['default.old'], changed: [] }, rules: { added: [], removed: [], changed: [] },
    routing: ['routing.default_team'], needs_restart: ['server.port'],
  });
  assert.equal(changed.changed, true);
  assert.deepEqual(changed.sections.map((s) => s.key), ['flows', 'steps']);
  assert.deepEqual(changed.sections[0], { key: 'flows', added: ['sales'], removed: [], changed: ['default'] });
  assert.deepEqual(changed.routing, ['routing.default_team']);
  assert.deepEqual(changed.needsRestart, ['server.port']);
  // A malformed answer shows as nothing, not an exception.
  assert.deepEqual(m.reloadSummary(null).sections, []);
});

// --- panel apps (lib/panel-apps.js) ----------------------------------------------------------

copyFileSync(join(lib, 'panel-apps.js'), join(dir, 'panel-apps.js'));
const p = await import(pathToFileURL(join(dir, 'panel-apps.js')).href);

test('a panel app is framed at its own origin, never the console\'s', () => {
  const console = 'https://desk.example.com';
  assert.equal(p.frameOrigin('https://crm.example.com/panel?x=1', console), 'https://crm.example.com');
  assert.equal(p.frameOrigin('http://127.0.0.1:9090/business/panel', console), 'http://127.0.0.1:9090');
  assert.equal(p.frameOrigin('https://desk.example.com/app', console), null);
  assert.equal(p.frameOrigin('javascript:alert(1)', console), null);
  assert.equal(p.frameOrigin('not a url', console), null);
});

test('tokens are asked for again a minute before they expire, within bounds', () => {
  const now = 1_000_000_000_000;
  const at = (ms) => ({ expires_at: (now + ms) / 1000 });
  assert.equal(p.refreshDelay([at(300_000)], now), 240_000);
  assert.equal(p.refreshDelay([at(300_000), at(120_000)], now), 60_000);
  assert.equal(p.refreshDelay([at(30_000)], now), p.REFRESH_MIN_MS);
  assert.equal(p.refreshDelay([at(3_600_000)], now), p.REFRESH_MAX_MS);
  assert.equal(p.refreshDelay([], now), p.REFRESH_MAX_MS);
  assert.equal(p.refreshDelay([{ expires_at: 'soon' }], now), p.REFRESH_MAX_MS);
});

test('only the app\'s own frame, from its origin, asks for the context', () => {
  const frame = {};
  const ready = { source: frame, origin: 'https://crm.example.com', data: { type: 'switchboard.ready' } };
  assert.equal(p.isReady(ready, frame, 'https://crm.example.com'), true);
  assert.equal(p.isReady({ ...ready, origin: 'https://evil.example' }, frame, 'https://crm.example.com'), false);
  assert.equal(p.isReady({ ...ready, source: {} }, frame, 'https://crm.example.com'), false);
  assert.equal(p.isReady({ ...ready, data: 'switchboard.ready' }, frame, 'https://crm.example.com'), false);
  assert.deepEqual(p.contextMessage('t'), { type: 'switchboard.context', token: 't' });
});

test('the panel app form sends what changed', () => {
  assert.deepEqual(p.panelAppBody({ name: ' Orders ', url: ' https://crm.example.com/p ', teams: ['sales', 'billing'] }, null),
    { name: 'Orders', url: 'https://crm.example.com/p', teams: ['billing', 'sales'] });
  const before = { id: 'pa_1', name: 'Orders', url: 'https://crm.example.com/p', teams: ['support'] };
  assert.equal(p.panelAppBody(p.panelAppForm(before), before), null);
  assert.deepEqual(p.panelAppBody({ ...p.panelAppForm(before), name: 'CRM' }, before), { name: 'CRM' });
  assert.deepEqual(p.panelAppBody({ ...p.panelAppForm(before), teams: [] }, before), { teams: [] });
  assert.deepEqual(p.panelAppForm(null), { name: '', url: 'https://', teams: [] });
});

const DEFS = [
  { key: 'plan', label: 'Plan', type: 'choice', options: ['Gold', 'Silver'], description: null },
  { key: 'seats', label: 'Seats', type: 'number', options: [] },
  { key: 'paid', label: 'Paid', type: 'boolean', options: [] },
  { key: 'renewal', label: 'Renewal', type: 'date', options: [] },
  { key: 'notes', label: 'Notes', type: 'text', options: [] },
];

test('contact fields: defined ones with their labels, the others as they are', () => {
  const split = cf.splitFields(DEFS, { plan: 'Gold', city: 'Madrid', email: 'a@b.co', location_lat: '1' });
  assert.deepEqual(split.defined.map((f) => [f.def.key, f.value]),
    [['plan', 'Gold'], ['seats', ''], ['paid', ''], ['renewal', ''], ['notes', '']]);
  assert.deepEqual(split.free, [['city', 'Madrid'], ['location_lat', '1']]);
  assert.deepEqual(cf.splitFields(null, null), { defined: [], free: [] });
  assert.deepEqual(cf.fieldValues(DEFS, { paid: 'maybe', seats: '3' }),
    { plan: '', seats: '3', paid: '', renewal: '', notes: '' });
});

test('contact fields: an edit sends what changed, null for what was emptied', () => {
  const before = { plan: 'Gold', seats: '3', paid: 'true' };
  assert.equal(cf.fieldsPatch(DEFS, before, cf.fieldValues(DEFS, before)), null);
  assert.deepEqual(
    cf.fieldsPatch(DEFS, before, { plan: '', seats: ' 4 ', paid: 'false', renewal: '2027-01-31', notes: '' }),
    { plan: null, seats: '4', paid: false, renewal: '2027-01-31' },
  );
  assert.deepEqual(cf.fieldsPatch(DEFS, {}, { paid: 'true' }), { paid: true });
  assert.equal(cf.fieldsPatch([], before, {}), null);
});

test('contact fields: the admin form to request bodies', () => {
  const form = cf.fieldForm(null);
  assert.deepEqual(form, { key: '', label: '', type: 'text', options: '', description: '' });
  assert.deepEqual(cf.fieldBody({ ...form, key: ' plan ', label: ' Plan ', type: 'choice', options: 'Gold\n\n Silver \n' }, null),
    { key: 'plan', label: 'Plan', type: 'choice', options: ['Gold', 'Silver'] });
  assert.deepEqual(cf.fieldBody({ ...form, key: 'seats', label: 'Seats', type: 'number', options: 'x', description: 'How many' }, null),
    { key: 'seats', label: 'Seats', type: 'number', description: 'How many' });
  const plan = DEFS[0];
  assert.equal(cf.fieldBody(cf.fieldForm(plan), plan), null);
  assert.deepEqual(cf.fieldBody({ ...cf.fieldForm(plan), label: 'Tier', options: 'Gold\nSilver\nPlatinum', description: 'Their tier' }, plan),
    { label: 'Tier', options: ['Gold', 'Silver', 'Platinum'], description: 'Their tier' });
  assert.deepEqual(cf.fieldBody({ ...cf.fieldForm({ ...plan, description: 'x' }), description: ' ' }, { ...plan, description: 'x' }),
    { description: null });
  // A number has no options to change.
  assert.equal(cf.fieldBody({ ...cf.fieldForm(DEFS[1]), options: 'a' }, DEFS[1]), null);
  assert.deepEqual(cf.parseOptions(' a \n\nb'), ['a', 'b']);
});

test('contact fields: a refusal names the field by its label', () => {
  assert.equal(cf.namedRefusal(DEFS, 'The server refused: fields.seats: a number like 42 (got "x")'),
    'The server refused: Seats: a number like 42 (got "x")');
  assert.equal(cf.namedRefusal(DEFS, 'fields.city: too long'), 'fields.city: too long');
  assert.equal(cf.namedRefusal(null, 'x'), 'x');
});
