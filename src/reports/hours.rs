//! Business-hours arithmetic, pure: how much of a span of time falls within a calendar's
//! opening hours (per weekday, local times of the calendar's time zone, DST included).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Opening hours: for each weekday (Monday first) its intervals of local time, `[open, close)`;
/// a close of `None` is midnight at the end of the day. `closed` dates (local) are closed all
/// day (holidays).
#[derive(Clone, Debug, PartialEq)]
pub struct Calendar {
    pub tz: Tz,
    pub week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7],
    pub closed: BTreeSet<NaiveDate>,
}

/// The UTC instant of a local time; in a DST gap the instant the clocks jump to, in an overlap
/// the earlier one.
fn instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> i64 {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        LocalResult::None => {
            // Clocks jumped: the first valid minute after it is where the interval starts.
            (1..=180)
                .filter_map(|m| {
                    tz.from_local_datetime(&(local + chrono::Duration::minutes(m)))
                        .earliest()
                })
                .map(|t| t.timestamp_millis())
                .next()
                .unwrap_or_else(|| local.and_utc().timestamp_millis())
        }
    }
}

/// How far [`Calendar::add_business_ms`] looks for opening hours before it gives up (a
/// calendar open less than this often never reaches a deadline).
const HORIZON_DAYS: u64 = 800;

impl Calendar {
    /// A calendar from its configuration (`timezone`, `weekly` "HH:MM-HH:MM" ranges per day,
    /// `closed_dates`), checked like the bot's opening hours.
    pub fn from_config(config: &crate::bot::config::HoursConfig) -> Result<Self, String> {
        let tz: Tz = config
            .timezone
            .parse()
            .map_err(|_| format!("unknown timezone {}", config.timezone))?;
        let mut week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7] = Default::default();
        for (day, spec) in &config.weekly {
            let index = crate::bot::hours::day_index(day)
                .ok_or_else(|| format!("unknown day {day} (use mon..sun)"))?;
            let ranges =
                crate::bot::hours::parse_ranges(spec).map_err(|e| format!("{day}: {e}"))?;
            week[index] = ranges
                .into_iter()
                .map(|(from, to)| (minute_time(from), (to < 24 * 60).then(|| minute_time(to))))
                .collect();
        }
        let closed = config
            .closed_dates
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| format!("closed date {d} is not YYYY-MM-DD"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { tz, week, closed })
    }

    /// The opening intervals (UTC ms, `[start, end)`) of local `day`, in order.
    fn day_intervals(&self, day: NaiveDate) -> impl Iterator<Item = (i64, i64)> + '_ {
        let weekday = day.weekday().num_days_from_monday() as usize;
        let open = if self.closed.contains(&day) {
            &[][..]
        } else {
            &self.week[weekday][..]
        };
        open.iter().map(move |(from, to)| {
            let start = instant(self.tz, day, *from);
            let end = match to {
                Some(to) => instant(self.tz, day, *to),
                None => instant(self.tz, day + Days::new(1), NaiveTime::MIN),
            };
            (start, end)
        })
    }

    /// The local day of an instant, a day early (a day either side covers the zone's offset).
    fn first_day(&self, ms: i64) -> Option<NaiveDate> {
        let at = DateTime::<Utc>::from_timestamp_millis(ms)?;
        Some(at.with_timezone(&self.tz).date_naive() - Days::new(1))
    }

    /// Milliseconds of `[from_ms, to_ms)` within opening hours (0 when `to_ms <= from_ms`).
    pub fn business_ms(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let (Some(first), Some(last)) = (self.first_day(from_ms), self.first_day(to_ms)) else {
            return 0;
        };
        let last = last + Days::new(2);
        let mut total = 0i64;
        let mut day = first;
        while day <= last {
            for (start, end) in self.day_intervals(day) {
                let overlap = end.min(to_ms) - start.max(from_ms);
                if overlap > 0 {
                    total += overlap;
                }
            }
            day = day + Days::new(1);
        }
        total
    }

    /// The instant at which `ms` of opening hours have passed since `from_ms` (`from_ms` itself
    /// for 0); `None` when the calendar is not open that long within [`HORIZON_DAYS`].
    pub fn add_business_ms(&self, from_ms: i64, ms: i64) -> Option<i64> {
        if ms <= 0 {
            return Some(from_ms);
        }
        let mut left = ms;
        let mut day = self.first_day(from_ms)?;
        for _ in 0..HORIZON_DAYS {
            for (start, end) in self.day_intervals(day) {
                let start = start.max(from_ms);
                if end <= start {
                    continue;
                }
                if end - start >= left {
                    return Some(start + left);
                }
                left -= end - start;
            }
            day = day + Days::new(1);
        }
        None
    }
}

/// The calendars of some teams (by team id), as a conversation step carries them for the
/// reports: cheap to clone, resolved when the step is made.
#[derive(Clone, Debug, Default)]
pub struct TeamCalendars(Vec<(String, std::sync::Arc<Calendar>)>);

impl TeamCalendars {
    pub fn new(calendars: Vec<(String, std::sync::Arc<Calendar>)>) -> Self {
        Self(calendars)
    }

    /// The calendar of a team, if it has one.
    pub fn of(&self, team: &str) -> Option<&Calendar> {
        self.0
            .iter()
            .find(|(t, _)| t == team)
            .map(|(_, c)| c.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for TeamCalendars {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((a, x), (b, y))| a == b && x == y)
    }
}

fn minute_time(minutes: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or(NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
    }

    /// Monday to Friday 9:00–17:00.
    fn office(tz: Tz) -> Calendar {
        let day = vec![(t(9, 0), Some(t(17, 0)))];
        Calendar {
            tz,
            week: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                vec![],
                vec![],
            ],
            closed: BTreeSet::new(),
        }
    }

    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        let date = NaiveDate::from_ymd_opt(y, mo, d).unwrap_or(NaiveDate::MIN);
        instant(tz, date, t(h, mi))
    }

    #[test]
    fn within_one_day() {
        let c = office(Tz::UTC);
        // Wednesday 2026-12-02.
        let u = |h, m| at(Tz::UTC, 2026, 12, 2, h, m);
        assert_eq!(c.business_ms(u(10, 0), u(11, 30)), 90 * 60_000);
        assert_eq!(c.business_ms(u(8, 0), u(10, 0)), H);
        assert_eq!(c.business_ms(u(16, 0), u(18, 0)), H);
        assert_eq!(c.business_ms(u(7, 0), u(8, 0)), 0);
        assert_eq!(c.business_ms(u(11, 0), u(10, 0)), 0);
        assert_eq!(c.business_ms(u(10, 0), u(10, 0)), 0);
    }

    #[test]
    fn across_midnight_counts_both_days() {
        let c = office(Tz::UTC);
        // Wednesday 16:00 to Thursday 10:00: 1 h + 1 h.
        let from = at(Tz::UTC, 2026, 12, 2, 16, 0);
        let to = at(Tz::UTC, 2026, 12, 3, 10, 0);
        assert_eq!(c.business_ms(from, to), 2 * H);
    }

    #[test]
    fn weekends_are_closed() {
        let c = office(Tz::UTC);
        // Friday 16:00 to Monday 10:00: Friday's last hour and Monday's first.
        let from = at(Tz::UTC, 2026, 12, 4, 16, 0);
        let to = at(Tz::UTC, 2026, 12, 7, 10, 0);
        assert_eq!(c.business_ms(from, to), 2 * H);
        // All of Saturday and Sunday: nothing.
        let sat = at(Tz::UTC, 2026, 12, 5, 0, 0);
        let mon = at(Tz::UTC, 2026, 12, 7, 0, 0);
        assert_eq!(c.business_ms(sat, mon), 0);
        // A whole week: five days of eight hours.
        assert_eq!(c.business_ms(mon, mon + 7 * 24 * H), 40 * H);
    }

    #[test]
    fn hours_are_local_to_the_calendar() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap_or(Tz::UTC);
        let c = office(tz);
        // 09:00 Tokyo is 00:00 UTC.
        let from = at(Tz::UTC, 2026, 12, 2, 0, 0);
        assert_eq!(c.business_ms(from, from + 24 * H), 8 * H);
        assert_eq!(c.business_ms(from - H, from + H), H);
    }

    #[test]
    fn dst_days_keep_their_local_hours() {
        // Open all day on the days clocks change: 23 h in spring, 25 h in autumn.
        let tz: Tz = "Europe/Paris".parse().unwrap_or(Tz::UTC);
        let all = vec![(NaiveTime::MIN, None)];
        let c = Calendar {
            tz,
            week: std::array::from_fn(|_| all.clone()),
            closed: BTreeSet::new(),
        };
        let spring = at(tz, 2026, 3, 29, 0, 0);
        let spring_next = at(tz, 2026, 3, 30, 0, 0);
        assert_eq!(spring_next - spring, 23 * H);
        assert_eq!(c.business_ms(spring, spring_next), 23 * H);
        let autumn = at(tz, 2026, 10, 25, 0, 0);
        let autumn_next = at(tz, 2026, 10, 26, 0, 0);
        assert_eq!(c.business_ms(autumn, autumn_next), 25 * H);
        // 9:00–17:00 on the spring day is still eight hours, and starts at 07:00 UTC.
        let office = office(tz);
        let monday = at(tz, 2026, 3, 30, 0, 0);
        assert_eq!(office.business_ms(monday, monday + 24 * H), 8 * H);
        assert_eq!(at(tz, 2026, 3, 30, 9, 0), at(Tz::UTC, 2026, 3, 30, 7, 0));
    }

    #[test]
    fn an_opening_inside_the_dst_gap_starts_when_clocks_land() {
        // 02:30 does not exist in Paris on 2026-03-29 (02:00 → 03:00).
        let tz: Tz = "Europe/Paris".parse().unwrap_or(Tz::UTC);
        let gap = at(tz, 2026, 3, 29, 2, 30);
        assert_eq!(gap, at(tz, 2026, 3, 29, 3, 0));
    }

    #[test]
    fn split_days_sum_their_intervals() {
        let mut c = office(Tz::UTC);
        c.week[0] = vec![(t(9, 0), Some(t(12, 0))), (t(13, 0), Some(t(17, 0)))];
        let mon = at(Tz::UTC, 2026, 12, 7, 0, 0);
        assert_eq!(c.business_ms(mon, mon + 24 * H), 7 * H);
        assert_eq!(c.business_ms(mon + 11 * H, mon + 14 * H), 2 * H);
    }
}
