// The console's budget: all its JavaScript and CSS (what a browser loads, the string
// catalogs aside: one of them is fetched, for the language in use) at most 170 KB gzipped.
// Exits non-zero over it. Run from anywhere: `node console/tools/check-size.mjs`.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET = 170 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "tools" ? [] : files(path);
    return /\.(js|css)$/.test(name) ? [path] : [];
  });
}

let total = 0;
for (const path of files(root)) total += gzipSync(readFileSync(path)).length;
console.log(`console JS + CSS: ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (total > BUDGET) process.exit(1);
