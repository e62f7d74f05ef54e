#!/usr/bin/env node
// Syntax-checks every module of the console as an ES module (node --check), vendor included,
// and that no module imports a bare specifier (a browser without a build step cannot resolve
// `import "preact"`): only relative paths. Exits 1 on any problem.
//
//   node console/tools/check-js.mjs

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function jsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'tools' && name !== 'node_modules') out.push(...jsFiles(path));
    } else if (name.endsWith('.js')) {
      out.push(path);
    }
  }
  return out;
}

let failed = 0;
const files = jsFiles(root);
for (const file of files) {
  const source = readFileSync(file, 'utf8');
  const check = spawnSync(process.execPath, ['--input-type=module', '--check'], { input: source, encoding: 'utf8' });
  if (check.status !== 0) {
    failed += 1;
    console.error(`${relative(root, file)}: ${check.stderr.trim()}`);
  }
  // `from` / `import` as keywords: not inside a name like `audit-from`.
  for (const m of source.matchAll(/(?:^|[\s;}])(?:from\s*|import\s*\(?\s*)(['"])([^'"]+)\1/gm)) {
    if (!m[2].startsWith('./') && !m[2].startsWith('../')) {
      failed += 1;
      console.error(`${relative(root, file)}: imports "${m[2]}": only relative paths resolve in the browser`);
    }
  }
}
if (failed) {
  console.error(`check-js: ${failed} problem(s)`);
  process.exit(1);
}
console.log(`check-js: ${files.length} modules: ok`);
