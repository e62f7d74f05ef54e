#!/usr/bin/env node
// Checks the console's colour contrast (WCAG 2.x): every pair of text colour and background
// the CSS uses together keeps at least 4.5:1; borders, focus rings and controls keep 3:1
// against what they sit on. The colours are read from app.css (its `:root` custom properties,
// and the few literal colours written in rules), so a change of palette that breaks a pair
// fails here. Prints each pair with its ratio; exits 1 on any below its minimum.
//
//   node console/tools/check-contrast.mjs

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const css = readFileSync(join(root, 'app.css'), 'utf8');

/** `--name: #rrggbb` in the first `:root` block. */
function customProperties(text) {
  const block = /:root\s*\{([^}]*)\}/.exec(text);
  if (!block) throw new Error('app.css has no :root block');
  const vars = {};
  for (const m of block[1].matchAll(/--([\w-]+)\s*:\s*(#[0-9a-fA-F]{3,8})\s*;/g)) vars[m[1]] = m[2];
  return vars;
}

/** A rule's declared `color` and `background` (literal colours), by its selector. */
function ruleColours(text, selector) {
  const escaped = selector.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp('(?:^|\\})\\s*' + escaped + '\\s*\\{([^}]*)\\}', 'm').exec(text);
  if (!m) throw new Error(`app.css has no rule "${selector}"`);
  const get = (prop) => {
    const d = new RegExp('(?:^|;|\\s)' + prop + '\\s*:\\s*([^;]+);').exec(m[1]);
    return d ? d[1].trim() : null;
  };
  return { color: get('color'), background: get('background') };
}

const vars = customProperties(css);

/** A colour as written: `#hex`, or `var(--name)` / `--name` from :root. */
function resolve(value) {
  const v = value.trim();
  const ref = /^(?:var\()?--([\w-]+)\)?$/.exec(v);
  if (ref) {
    if (!vars[ref[1]]) throw new Error(`--${ref[1]} is not a colour in :root`);
    return vars[ref[1]];
  }
  if (/^#[0-9a-fA-F]{3,8}$/.test(v)) return v;
  throw new Error(`cannot read the colour "${value}"`);
}

function rgb(hex) {
  let h = hex.slice(1);
  if (h.length === 3 || h.length === 4) h = [...h].map((c) => c + c).join('');
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
}

function luminance(hex) {
  const [r, g, b] = rgb(hex).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The contrast ratio of two colours, 1 to 21. */
export function ratio(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const TEXT = 4.5;
const UI = 3;

// [foreground, background, minimum, where]: every pairing app.css makes.
const pairs = [
  ['--text', '--bg', TEXT, 'body text'],
  ['--text', '--surface', TEXT, 'panes, dialogs'],
  ['--text', '--surface-2', TEXT, 'hovered rows'],
  ['--text', '--inbound', TEXT, "customer's bubble"],
  ['--text', '--outbound', TEXT, 'our bubble'],
  ['--text', '--bot', TEXT, "bot's bubble"],
  ['--text', '--note', TEXT, 'note bubble, note composer'],
  ['--text', '--primary-soft', TEXT, 'open row, offers'],
  ['--muted', '--surface', TEXT, 'secondary text'],
  ['--muted', '--bg', TEXT, 'secondary text on the page'],
  ['--muted', '--surface-2', TEXT, 'status chips, hovered rows'],
  ['--muted', '--inbound', TEXT, 'times in bubbles'],
  ['--muted', '--outbound', TEXT, 'times in our bubbles'],
  ['--muted', '--bot', TEXT, "times in the bot's bubbles"],
  ['--muted', '--note', TEXT, 'times in notes'],
  ['--muted', '--primary-soft', TEXT, 'the open row'],
  ['--primary', '--surface', TEXT, 'links, selected tab'],
  ['--primary', '--bg', TEXT, 'links on the page'],
  ['--primary', '--primary-soft', TEXT, 'read ticks on the open row'],
  ['--primary', '--outbound', TEXT, 'read ticks'],
  ['--primary-hover', '--primary-soft', TEXT, 'assigned chip, viewing'],
  ['--primary-hover', '--surface', TEXT, 'quoted author, who is viewing'],
  ['--primary-hover', '--outbound', TEXT, 'quoted author in our bubble'],
  ['--on-primary', '--primary', TEXT, 'primary buttons'],
  ['--on-primary', '--primary-hover', TEXT, 'primary buttons, hovered'],
  ['--on-primary', '--danger', TEXT, 'danger buttons, badges'],
  ['--danger', '--surface', TEXT, 'failures, urgent countdown'],
  ['--danger', '--danger-soft', TEXT, 'errors, closed window'],
  ['--danger', '--outbound', TEXT, 'a failed message'],
  ['--success', '--success-soft', TEXT, 'resolved chip, notices'],
  ['--warn', '--warn-soft', TEXT, 'waiting chip, warnings, window closing'],
  ['--warn', '--note', TEXT, "a note's author"],
  ['--warn', '--surface', TEXT, 'someone typing'],
  ['--control', '--surface', UI, 'control borders'],
  ['--control', '--bg', UI, 'control borders on the page'],
  ['--focus', '--surface', UI, 'focus ring'],
  ['--focus', '--bg', UI, 'focus ring on the page'],
  ['--focus', '--primary-soft', UI, 'focus ring on the open row'],
  ['--note-line', '--note', UI, "a note's border"],
];

// Rules with literal colours of their own.
for (const selector of ['.status-snoozed', '.badge']) {
  const { color, background } = ruleColours(css, selector);
  if (!color || !background) throw new Error(`${selector}: no color or background`);
  pairs.push([color, background, TEXT, selector]);
}

let failed = 0;
for (const [fg, bg, min, where] of pairs) {
  const r = ratio(resolve(fg), resolve(bg));
  const ok = r >= min;
  if (!ok) failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${r.toFixed(2).padStart(5)}:1 (≥ ${min}) ${fg} on ${bg}: ${where}`);
}
if (failed) {
  console.error(`check-contrast: ${failed} pair(s) below their minimum`);
  process.exit(1);
}
console.log(`check-contrast: ${pairs.length} pairs: ok`);
