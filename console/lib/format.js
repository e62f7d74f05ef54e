// Dates and times with Intl.DateTimeFormat, in the user's locale and time zone.

import { dayKey as zonedDayKey } from './zoned.js';

let zone;
let timeFmt;
let dayFmt;
let shortFmt;
let fullFmt;

/** Sets the locale and time zone (undefined: the browser's) every format uses. */
export function configure(locale, timeZone) {
  zone = timeZone;
  timeFmt = new Intl.DateTimeFormat(locale, { timeZone, hour: '2-digit', minute: '2-digit' });
  dayFmt = new Intl.DateTimeFormat(locale, { timeZone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
  shortFmt = new Intl.DateTimeFormat(locale, { timeZone, day: 'numeric', month: 'short' });
  fullFmt = new Intl.DateTimeFormat(locale, { timeZone, dateStyle: 'medium', timeStyle: 'short' });
}
configure(undefined, undefined);

function valid(ms) {
  return typeof ms === 'number' && Number.isFinite(ms);
}

/** 14:05 */
export function time(ms) {
  return valid(ms) ? timeFmt.format(ms) : '';
}

/** Monday, 24 November 2025 */
export function day(ms) {
  return valid(ms) ? dayFmt.format(ms) : '';
}

/** Date and time, medium. */
export function dateTime(ms) {
  return valid(ms) ? fullFmt.format(ms) : '';
}

/** The calendar day of `ms` in the user's zone, to tell days apart. */
export function dayKey(ms) {
  return valid(ms) ? zonedDayKey(ms, zone) : '';
}

/** The time if `ms` is today, else the day and month: for list rows. */
export function when(ms, now = Date.now()) {
  if (!valid(ms)) return '';
  return dayKey(ms) === dayKey(now) ? timeFmt.format(ms) : shortFmt.format(ms);
}

/** The machine-readable form, for <time datetime>. */
export function iso(ms) {
  return valid(ms) ? new Date(ms).toISOString() : '';
}

/** A countdown: 1:05, or 0:00 when past. */
export function countdown(msLeft) {
  const s = Math.max(0, Math.ceil(msLeft / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The user's time zone (undefined: the browser's). */
export function timeZone() {
  return zone;
}
