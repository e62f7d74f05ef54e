#!/usr/bin/env node
// Tests of the campaigns' pure logic (lib/campaign-model.js): a template's form from its
// components, the wizard's fields to a CampaignSpec and back, the actions each state allows,
// the counts' shares, money and percentages. Like test-model.mjs, the modules are copied to a
// temporary folder that says "type": "module".
//
//   node --test console/tools/test-campaigns.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const lib = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib');
const dir = mkdtempSync(join(tmpdir(), 'console-campaigns-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
for (const f of ['campaign-model.js', 'zoned.js', 'template-form.js']) copyFileSync(join(lib, f), join(dir, f));
const m = await import(pathToFileURL(join(dir, 'campaign-model.js')).href);
const tf = await import(pathToFileURL(join(dir, 'template-form.js')).href);

// The demo's templates (src/fakes/graph.rs) as GET /api/v1/templates lists them.
const springSale = {
  channel: 'support', name: 'spring_sale', language: 'en_US', category: 'MARKETING', status: 'APPROVED',
  parameter_format: 'NAMED',
  components: [
    { type: 'HEADER', format: 'TEXT', text: 'Spring sale' },
    { type: 'BODY', text: 'Hi {{first_name}}, everything is 20% off this week.' },
    { type: 'FOOTER', text: 'Not interested? Tap Stop promotions' },
    { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Stop promotions' }] },
  ],
};
const parcelReady = {
  channel: 'support', name: 'parcel_ready', language: 'en_US', category: 'UTILITY', status: 'APPROVED',
  parameter_format: 'POSITIONAL',
  components: [
    { type: 'HEADER', format: 'IMAGE' },
    { type: 'BODY', text: 'Hi {{1}}, parcel {{2}} is ready at the locker. Parcel {{2}} again.' },
    { type: 'FOOTER', text: 'Parcels Inc.' },
    { type: 'BUTTONS', buttons: [
      { type: 'URL', text: 'Track', url: 'https://parcels.example/t/{{1}}' },
      { type: 'QUICK_REPLY', text: 'Talk to us' },
    ] },
  ],
};
const located = { ...springSale, name: 'where', components: [{ type: 'HEADER', format: 'LOCATION' }, { type: 'BODY', text: 'Here.' }] };
const pending = { ...springSale, name: 'winter_sale', status: 'PENDING' };
const other = { ...springSale, channel: 'sales' };

test('formOf reads a template as the server does', () => {
  const f = m.formOf(springSale);
  assert.equal(f.parameter_format, 'NAMED');
  assert.deepEqual(f.header, { format: 'TEXT', text: 'Spring sale', parameter: null });
  assert.deepEqual(f.body_parameters, ['first_name']);
  assert.equal(f.footer, 'Not interested? Tap Stop promotions');
  assert.deepEqual(f.buttons, [{ index: 0, type: 'QUICK_REPLY', text: 'Stop promotions', url: null, sub_type: 'quick_reply', required: false }]);
  const p = m.formOf(parcelReady);
  assert.equal(p.parameter_format, 'POSITIONAL');
  assert.deepEqual(p.body_parameters, ['1', '2'], 'positional: by number, each once');
  assert.equal(p.header.format, 'IMAGE');
  assert.deepEqual(p.buttons.map((b) => [b.sub_type, b.required]), [['url', true], ['quick_reply', false]]);
  assert.deepEqual(m.formOf({ components: 'nope' }).body_parameters, []);
  assert.deepEqual(m.formOf(null).buttons, []);
  const otp = m.formOf({ components: [{ type: 'BUTTONS', buttons: [{ type: 'OTP', text: 'Copy code' }, { type: 'URL', text: 'Site', url: 'https://x.example' }] }] });
  assert.deepEqual(otp.buttons.map((b) => b.sub_type), ['url', null], 'a URL without a placeholder takes nothing');
});

test('slotsOf: what the wizard asks for, the same as the composer\'s fields', () => {
  assert.deepEqual(m.slotsOf(m.formOf(springSale)).map((s) => [s.key, s.kind, s.required]), [
    ['body:first_name', 'body', true],
    ['button:0', 'button', false],
  ]);
  const slots = m.slotsOf(m.formOf(parcelReady));
  assert.deepEqual(slots.map((s) => s.key), ['header', 'body:1', 'body:2', 'button:0', 'button:1']);
  assert.deepEqual(slots.map((s) => s.key), tf.fieldsOf(m.formOf(parcelReady)).map((f) => f.key));
  assert.equal(slots[0].kind, 'header-media');
  const named = m.slotsOf(m.formOf({ parameter_format: 'NAMED', components: [{ type: 'HEADER', format: 'TEXT', text: 'Hi {{who}}' }] }));
  assert.deepEqual(named, [{ key: 'header', kind: 'header-text', name: 'who', text: 'Hi {{who}}', required: true }]);
  assert.deepEqual(m.slotsOf(null), []);
});

test('channels and templates offered: approved ones a campaign can send', () => {
  const all = [springSale, parcelReady, located, pending, other];
  assert.deepEqual(m.channelsOf(all), ['sales', 'support']);
  assert.deepEqual(m.channelsOf([pending]), []);
  assert.deepEqual(m.templatesOf(all, 'support').map(m.templateKey), ['parcel_ready/en_US', 'spring_sale/en_US']);
  assert.deepEqual(m.templatesOf(all, 'sales').map(m.templateKey), ['spring_sale/en_US']);
  assert.deepEqual(m.templatesOf(all, 'nope'), []);
});

const filled = () => ({
  ...m.emptyForm('Europe/Madrid'),
  name: '  Spring sale ',
  channel: 'support',
  template: 'spring_sale/en_US',
  sources: { 'body:first_name': { kind: 'field', field: 'name', value: '', default: 'friend' } },
  segment: 'seg_spring',
  exclude: ['seg_vip', 'seg_spring', 'seg_vip'],
});

test('campaignBody: the spec of tests/campaigns.rs', () => {
  const form = { ...filled(), cap: true, cap_messages: '2', cap_days: ' 7 ' };
  assert.deepEqual(m.campaignBody(form, springSale), {
    body: {
      name: 'Spring sale',
      channel: 'support',
      template: { name: 'spring_sale', language: 'en_US' },
      parameters: { body: { first_name: { field: 'name', default: 'friend' } } },
      audience: { segment: 'seg_spring', exclude_segments: ['seg_vip'] },
      frequency_cap: { messages: 2, days: 7 },
    },
  });
  // No default: none sent; a fixed value; an optional quick reply left out unless given.
  const fixed = { ...filled(), sources: { 'body:first_name': { kind: 'value', value: 'Ana' }, 'button:0': { kind: 'value', value: 'STOP' } } };
  assert.deepEqual(m.campaignBody(fixed, springSale).body.parameters, {
    body: { first_name: { value: 'Ana' } },
    buttons: [{ index: 0, sub_type: 'quick_reply', value: { value: 'STOP' } }],
  });
  const noDefault = { ...filled(), sources: { 'body:first_name': { kind: 'field', field: 'name', default: '  ' } } };
  assert.deepEqual(m.campaignBody(noDefault, springSale).body.parameters, { body: { first_name: { field: 'name' } } });
});

test('campaignBody: positional bodies, media headers, schedules', () => {
  const form = {
    ...filled(),
    template: 'parcel_ready/en_US',
    sources: {
      header: { kind: 'id', value: ' 4490709327384033 ' },
      'body:1': { kind: 'field', field: 'name', default: 'there' },
      'body:2': { kind: 'field', field: 'parcel_code' },
      'button:0': { kind: 'field', field: 'parcel_code' },
    },
    when: 'at',
    start_at: '2030-04-01T10:30',
    window: true,
    window_from: '09:00',
    window_to: '20:00',
  };
  const { body } = m.campaignBody(form, parcelReady, { now: Date.UTC(2030, 0, 1), timeZone: 'Europe/Madrid' });
  assert.deepEqual(body.parameters, {
    header: { image: { id: '4490709327384033' } },
    body: [{ field: 'name', default: 'there' }, { field: 'parcel_code' }],
    buttons: [{ index: 0, sub_type: 'url', value: { field: 'parcel_code' } }],
  });
  assert.deepEqual(body.schedule, {
    start_at: '2030-04-01T08:30:00.000Z',
    window: { from: '09:00', to: '20:00', timezone: 'Europe/Madrid' },
  });
  // And back: the wizard's fields of the spec.
  const back = m.formOfSpec(body, parcelReady, 'Europe/Madrid');
  assert.equal(back.when, 'at');
  assert.equal(back.start_at, '2030-04-01T10:30');
  assert.deepEqual(back.sources.header, { kind: 'id', value: '4490709327384033' });
  assert.deepEqual(m.campaignBody(back, parcelReady, { now: Date.UTC(2030, 0, 1), timeZone: 'Europe/Madrid' }).body, body);
});

test('campaignBody: what is missing, named with the field to fix', () => {
  const check = (patch, template, error, field) => {
    assert.deepEqual(m.campaignBody({ ...filled(), ...patch }, template === undefined ? springSale : template, { now: Date.UTC(2030, 0, 1), timeZone: 'UTC' }), { error, field });
  };
  check({ name: ' ' }, undefined, 'campaigns.error_name', 'name');
  check({ name: 'x'.repeat(201) }, undefined, 'campaigns.error_name_long', 'name');
  check({ channel: '' }, undefined, 'campaigns.error_channel', 'channel');
  check({}, null, 'campaigns.error_template', 'template');
  check({ sources: {} }, undefined, 'campaigns.error_source', 'body:first_name');
  check({ sources: { 'body:first_name': { kind: 'value', value: ' ' } } }, undefined, 'campaigns.error_value', 'body:first_name');
  check({ sources: { ...filled().sources, header: { kind: 'link', value: '' } }, template: 'parcel_ready/en_US' }, parcelReady, 'campaigns.error_media', 'header');
  check({ segment: '' }, undefined, 'campaigns.error_segment', 'segment');
  check({ exclude: Array.from({ length: 21 }, (_, i) => 'seg' + i) }, undefined, 'campaigns.error_exclude', 'exclude');
  check({ when: 'at', start_at: '' }, undefined, 'campaigns.error_start_at', 'start_at');
  check({ when: 'at', start_at: '2029-12-31T23:00' }, undefined, 'campaigns.error_start_past', 'start_at');
  check({ cap: true, cap_messages: '0' }, undefined, 'campaigns.error_cap_messages', 'cap_messages');
  check({ cap: true, cap_messages: '1', cap_days: '366' }, undefined, 'campaigns.error_cap_days', 'cap_days');
  // The window's hours are the server's to judge (its 422 names them).
  assert.ok(m.campaignBody({ ...filled(), window: true, window_from: '09:00', window_to: '09:00' }, springSale).body);
});

test('formOfSpec: a draft back in the wizard', () => {
  const spec = m.campaignBody({ ...filled(), cap: true, cap_messages: '2', cap_days: '7' }, springSale).body;
  const form = m.formOfSpec(spec, springSale, 'UTC');
  assert.equal(form.template, 'spring_sale/en_US');
  assert.deepEqual(form.sources['body:first_name'], { kind: 'field', field: 'name', value: '', default: 'friend' });
  assert.deepEqual(form.exclude, ['seg_vip']);
  assert.equal(form.cap, true);
  assert.equal(form.when, 'now');
  assert.equal(form.window, false);
  assert.deepEqual(m.campaignBody(form, springSale).body, spec);
  assert.equal(m.formOfSpec(null).name, '');
});

test('actionsFor follows campaign::transition, for admins only', () => {
  assert.deepEqual(m.actionsFor('draft', 'admin'), ['preview', 'start', 'cancel']);
  assert.deepEqual(m.actionsFor('scheduled', 'admin'), ['pause', 'cancel']);
  assert.deepEqual(m.actionsFor('running', 'admin'), ['pause', 'cancel']);
  assert.deepEqual(m.actionsFor('paused', 'admin'), ['resume', 'cancel']);
  assert.deepEqual(m.actionsFor('completed', 'admin'), []);
  assert.deepEqual(m.actionsFor('cancelled', 'admin'), []);
  assert.deepEqual(m.actionsFor('running', 'supervisor'), []);
  assert.deepEqual(m.actionsFor('draft', 'agent'), []);
  assert.equal(m.isLive('running'), true);
  assert.equal(m.isLive('scheduled'), true);
  assert.equal(m.isLive('paused'), false);
  assert.equal(m.isLive('completed'), false);
  const now = Date.UTC(2030, 0, 10);
  assert.equal(m.pollInterval({ state: 'running' }, now), 2000);
  assert.equal(m.pollInterval({ state: 'scheduled' }, now), 2000);
  assert.equal(m.pollInterval({ state: 'paused' }, now), 5000);
  assert.equal(m.pollInterval({ state: 'completed', finished_at: now - 3_600_000 }, now), 5000, 'statuses still come');
  assert.equal(m.pollInterval({ state: 'completed', finished_at: now - 8 * 86_400_000 }, now), null);
  assert.equal(m.pollInterval({ state: 'cancelled', finished_at: now }, now), null);
  assert.equal(m.pollInterval({ state: 'draft' }, now), null);
  assert.equal(m.pollInterval(null, now), null);
});

test('tiles: each count with its share of its whole', () => {
  const counts = {
    targeted: 8, excluded: { no_consent: 1, opted_out: 1, country_rule: 1, excluded_segment: 1, no_number: 1 },
    pending: 0, sent: 3, delivered: 2, read: 1, replied: 2, failed: 1, failed_by_code: { 131026: 1 }, opted_out: 1,
  };
  const byKey = Object.fromEntries(m.tiles(counts).map((x) => [x.key, x]));
  assert.deepEqual(Object.keys(byKey), ['targeted', 'excluded', 'pending', 'sent', 'delivered', 'read', 'replied', 'failed', 'opted_out']);
  assert.equal(byKey.targeted.share, null);
  assert.equal(byKey.excluded.n, 5);
  assert.equal(byKey.excluded.share, 5 / 8);
  assert.equal(byKey.sent.share, 1, 'all of the reachable three');
  assert.equal(byKey.delivered.share, 2 / 3);
  assert.equal(byKey.opted_out.share, 1 / 3);
  assert.equal(byKey.pending.share, 0);
  // Nothing yet: no shares, no division by zero.
  assert.ok(m.tiles({}).every((x) => x.n === 0 && x.share === null));
  assert.deepEqual(m.progress(counts), { sent: 3, of: 3, share: 1 });
  assert.deepEqual(m.progress(null), { sent: 0, of: 0, share: null });
});

test('breakdown, totals, cost rows', () => {
  assert.equal(m.total({ a: 2, b: 3 }), 5);
  assert.equal(m.total(null), 0);
  assert.deepEqual(m.breakdown({ opted_out: 1, no_consent: 1, duplicate: 0, frequency_cap: 4, refused: 1 }, m.EXCLUSIONS), [
    { key: 'frequency_cap', n: 4 },
    { key: 'no_consent', n: 1 },
    { key: 'opted_out', n: 1 },
    { key: 'refused', n: 1 },
  ]);
  assert.deepEqual(m.costRows({ unknown: { messages: 9, amount: 0 }, ES: { messages: 3, amount: 0.075 }, FR: { messages: 3, amount: 0.09 } }), [
    { country: 'ES', messages: 3, amount: 0.075 },
    { country: 'FR', messages: 3, amount: 0.09 },
    { country: 'unknown', messages: 9, amount: 0 },
  ]);
});

test('money, counts and percentages in the user\'s language', () => {
  assert.equal(m.money(0.075, 'EUR', 'en'), '€0.075');
  assert.equal(m.money(12, 'usd', 'en'), '$12.00');
  assert.equal(m.money(0.05, 'points', 'en'), '0.05 POINTS');
  assert.equal(m.money('x', 'EUR', 'en'), '');
  assert.equal(m.count(12345, 'en'), '12,345');
  assert.equal(m.count(12345, 'es'), '12.345');
  assert.equal(m.percent(2 / 3, 'en'), '66.7%');
  assert.equal(m.percent(1, 'en'), '100%');
  assert.equal(m.percent(null, 'en'), '');
});

test('sampleValues: the draft message names the field each parameter takes', () => {
  const slots = m.slotsOf(m.formOf(springSale));
  const values = m.sampleValues(slots, { 'body:first_name': { kind: 'field', field: 'name' } }, (f) => (f === 'name' ? 'Name' : f));
  assert.deepEqual(values, { 'body:first_name': '[Name]' });
  const draft = tf.draftPreview({ form: m.formOf(springSale) }, values);
  assert.equal(draft.body, 'Hi [Name], everything is 20% off this week.');
  assert.equal(draft.header.text, 'Spring sale');
  assert.deepEqual(m.sampleValues(slots, { 'body:first_name': { kind: 'value', value: 'Ana' } }), { 'body:first_name': 'Ana' });
  assert.deepEqual(m.sampleValues(slots, {}), {});
});

test('msToLocal and localToMs are each other\'s inverse in a zone', () => {
  const at = Date.UTC(2030, 3, 1, 8, 30);
  assert.equal(m.msToLocal(at, 'Europe/Madrid'), '2030-04-01T10:30');
  assert.equal(m.localToMs('2030-04-01T10:30', 'Europe/Madrid'), at);
  assert.equal(m.localToMs('2030-13-01T10:30', 'UTC'), null);
  assert.equal(m.localToMs('', 'UTC'), null);
  assert.equal(m.msToLocal(NaN, 'UTC'), '');
});
