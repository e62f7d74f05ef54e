// Wall-clock times in a named time zone (the user's `time_zone`), with nothing but Intl: what
// "tomorrow 9:00" is for someone whose day is not the browser's. Pure; tested in node.

const partsFormats = new Map();

function partsFormat(timeZone) {
  let f = partsFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    partsFormats.set(timeZone, f);
  }
  return f;
}

const WEEKDAYS = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** A time zone name Intl knows, else undefined (the browser's own zone). */
export function validTimeZone(name) {
  if (typeof name !== 'string' || name === '') return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return name;
  } catch {
    return undefined;
  }
}

/** The wall clock at `ms` in `timeZone`: year, month (1-12), day, hour, minute, second, weekday (0 = Sunday). */
export function zonedParts(ms, timeZone) {
  const out = {};
  for (const p of partsFormat(timeZone).formatToParts(new Date(ms))) {
    if (p.type === 'weekday') out.weekday = WEEKDAYS[p.value];
    else if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  if (out.hour === 24) out.hour = 0;
  return out;
}

/** How far `timeZone` is ahead of UTC at `ms`, in ms. */
export function zoneOffset(ms, timeZone) {
  const whole = Math.floor(ms / 1000) * 1000;
  const p = zonedParts(whole, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - whole;
}

/** The instant the wall clock in `timeZone` shows this date and time (month 1-12; days may overflow). */
export function zonedToUtc(year, month, day, hour, minute, timeZone) {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const first = zoneOffset(guess, timeZone);
  let ms = guess - first;
  const second = zoneOffset(ms, timeZone);
  if (second !== first) ms = guess - second;
  return ms;
}

/** The three snooze choices from `now`: in an hour, tomorrow 9:00, next week's Monday 9:00. */
export function snoozeChoices(now, timeZone) {
  const today = zonedParts(now, timeZone);
  // Next Monday; on a Sunday that is tomorrow, so the one after.
  const untilMonday = today.weekday === 0 ? 8 : (8 - today.weekday) % 7 || 7;
  return {
    hour: now + 3_600_000,
    tomorrow: zonedToUtc(today.year, today.month, today.day + 1, 9, 0, timeZone),
    next_week: zonedToUtc(today.year, today.month, today.day + untilMonday, 9, 0, timeZone),
  };
}

/** RFC 3339 without milliseconds, as the API takes it. */
export function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The calendar day of `ms` in `timeZone`, as `YYYY-MM-DD`. */
export function dayKey(ms, timeZone) {
  const p = zonedParts(ms, timeZone);
  return `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}
