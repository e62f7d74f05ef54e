//! Business-hours arithmetic, pure: how much of a span of time falls within a calendar's
//! opening hours (per weekday, local times of the calendar's time zone, DST included).

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Opening hours: for each weekday (Monday first) its intervals of local time, `[open, close)`;
/// a close of `None` is midnight at the end of the day.
#[derive(Clone, Debug, PartialEq)]
pub struct Calendar {
    pub tz: Tz,
    pub week: [Vec<(NaiveTime, Option<NaiveTime>)>; 7],
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

impl Calendar {
    /// Milliseconds of `[from_ms, to_ms)` within opening hours (0 when `to_ms <= from_ms`).
    pub fn business_ms(&self, from_ms: i64, to_ms: i64) -> i64 {
        if to_ms <= from_ms {
            return 0;
        }
        let (Some(from), Some(to)) = (
            DateTime::<Utc>::from_timestamp_millis(from_ms),
            DateTime::<Utc>::from_timestamp_millis(to_ms),
        ) else {
            return 0;
        };
        // Local days that may overlap the span (a day either side for the zone's offset).
        let first = from.with_timezone(&self.tz).date_naive() - Days::new(1);
        let last = to.with_timezone(&self.tz).date_naive() + Days::new(1);
        let mut total = 0i64;
        let mut day = first;
        while day <= last {
            let weekday = day.weekday().num_days_from_monday() as usize;
            for (open, close) in &self.week[weekday] {
                let start = instant(self.tz, day, *open);
                let end = match close {
                    Some(close) => instant(self.tz, day, *close),
                    None => instant(self.tz, day + Days::new(1), NaiveTime::MIN),
                };
                let overlap = end.min(to_ms) - start.max(from_ms);
                if overlap > 0 {
                    total += overlap;
                }
            }
            day = day + Days::new(1);
        }
        total
    }
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
