// UI strings come from flat catalogs, console/i18n/<locale>.json, the same keys in each
// (tools/check-i18n.mjs checks it, and that every key the code names exists). Code names a key
// with a string literal, in a call to t where it shows the string, or to K where it only passes
// the key on, so the check finds every key; a call to t with anything else is marked
// i18n-dynamic on its line.

/** The locales with a catalog; the first is the fallback. */
export const LOCALES = ['en', 'es', 'ar', 'ru', 'pt', 'fr'];
const RTL = new Set(['ar']);

let locale = 'en';
let catalog = {};
let fallback = {};
const cache = new Map();

/** Marks a key passed on as a value, for the catalog check; returns it unchanged. */
export function K(key) {
  return key;
}

/** The first supported locale among the candidates (`es-AR` counts as `es`), else `en`. */
export function pickLocale(...candidates) {
  for (const c of candidates) {
    if (typeof c !== 'string' || c === '') continue;
    const base = c.toLowerCase().split(/[-_]/)[0];
    if (LOCALES.includes(base)) return base;
  }
  return LOCALES[0];
}

async function fetchCatalog(code) {
  if (cache.has(code)) return cache.get(code);
  const res = await fetch(new URL(`../i18n/${code}.json`, import.meta.url), { cache: 'no-cache' });
  if (!res.ok) throw new Error(`catalog ${code}: HTTP ${res.status}`);
  const data = await res.json();
  cache.set(code, data);
  return data;
}

/** Loads a locale's catalog and sets `<html lang dir>`; returns the locale in use. */
export async function loadLocale(code) {
  const wanted = pickLocale(code);
  try {
    fallback = await fetchCatalog(LOCALES[0]);
  } catch {
    fallback = {};
  }
  try {
    catalog = wanted === LOCALES[0] ? fallback : await fetchCatalog(wanted);
    locale = wanted;
  } catch {
    catalog = fallback;
    locale = LOCALES[0];
  }
  const root = document.documentElement;
  root.lang = locale;
  root.dir = RTL.has(locale) ? 'rtl' : 'ltr';
  return locale;
}

export function currentLocale() {
  return locale;
}

/** The string for `key` with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  const s = catalog[key] ?? fallback[key] ?? key;
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (whole, name) => (vars[name] === undefined ? whole : String(vars[name])));
}

/** A language's name in the UI's language ("Spanish" for `es` in English), else the code. */
export function languageLabel(code) {
  if (typeof code !== 'string' || code === '') return '';
  try {
    return new Intl.DisplayNames([locale], { type: 'language' }).of(code) || code;
  } catch {
    return code;
  }
}

/** A language's own name for itself ("Español"), for the language picker. */
export function languageName(code) {
  try {
    const name = new Intl.DisplayNames([code], { type: 'language' }).of(code);
    if (name) return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
  } catch {
    // An old browser: the code will do.
  }
  return code;
}
