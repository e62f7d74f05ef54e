#!/usr/bin/env node
// Checks the console's string catalogs: every catalog in console/i18n has exactly the keys of
// en.json, each a non-empty string with the same {placeholders}; every key the code names
// (t('…'), K('…'), labelKey: '…') exists in en.json; and every call to t with something other
// than a literal is marked `i18n-dynamic` on its line (its keys come from K('…') literals).
// Keys of en.json nobody names are reported, not failed. Exits 1 on any problem.
//
//   node console/tools/check-i18n.mjs

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const problems = [];
const problem = (msg) => problems.push(msg);

function placeholders(s) {
  return [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
}

function readCatalog(file) {
  let data;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    problem(`${relative(root, file)}: not JSON: ${e.message}`);
    return null;
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    problem(`${relative(root, file)}: not a flat object`);
    return null;
  }
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'string' || v.trim() === '') problem(`${relative(root, file)}: "${k}" is not a non-empty string`);
  }
  return data;
}

// --- catalogs --------------------------------------------------------------------------------

const i18nDir = join(root, 'i18n');
const en = readCatalog(join(i18nDir, 'en.json')) || {};
const enKeys = new Set(Object.keys(en));
const catalogs = readdirSync(i18nDir).filter((f) => f.endsWith('.json')).sort();
for (const required of ['en', 'es', 'ar', 'ru', 'pt', 'fr']) {
  if (!catalogs.includes(required + '.json')) problem(`i18n/${required}.json is missing`);
}
for (const file of catalogs) {
  if (file === 'en.json') continue;
  const cat = readCatalog(join(i18nDir, file));
  if (!cat) continue;
  for (const k of enKeys) {
    if (!(k in cat)) problem(`i18n/${file}: missing "${k}"`);
    else if (typeof cat[k] === 'string' && typeof en[k] === 'string' && placeholders(cat[k]) !== placeholders(en[k])) {
      problem(`i18n/${file}: "${k}" has placeholders {${placeholders(cat[k])}}, en.json has {${placeholders(en[k])}}`);
    }
  }
  for (const k of Object.keys(cat)) if (!enKeys.has(k)) problem(`i18n/${file}: "${k}" is not in en.json`);
}

// --- code --------------------------------------------------------------------------------------

function jsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'vendor' && name !== 'tools' && name !== 'node_modules') out.push(...jsFiles(path));
    } else if (name.endsWith('.js')) {
      out.push(path);
    }
  }
  return out;
}

const used = new Set();
const literal = /\b(?:t|K)\(\s*(['"`])([^'"`$]+)\1|\blabelKey\s*:\s*(['"`])([^'"`$]+)\3/g;
const anyCall = /(^|[^\w.$])t\(\s*([^\s)])/g;
for (const file of jsFiles(root)) {
  const name = relative(root, file);
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    const code = line.replace(/^\s*\/\/.*$/, '').replace(/^\s*\*.*$/, '');
    for (const m of code.matchAll(literal)) {
      const key = m[2] || m[4];
      used.add(key);
      if (!enKeys.has(key)) problem(`${name}:${i + 1}: key "${key}" is not in en.json`);
    }
    for (const m of code.matchAll(anyCall)) {
      if (/['"`]/.test(m[2])) continue;
      if (/\bfunction\s+t\(/.test(code) || line.includes('i18n-dynamic')) continue;
      problem(`${name}:${i + 1}: t() with a non-literal key; name the keys with K('…') and mark the line i18n-dynamic`);
    }
  });
}

const unused = [...enKeys].filter((k) => !used.has(k));
if (unused.length) console.warn(`note: en.json keys no code names: ${unused.join(', ')}`);

if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`check-i18n: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-i18n: ${catalogs.length} catalogs, ${enKeys.size} keys, ${used.size} used: ok`);
