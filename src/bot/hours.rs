//! Business hours: weekly ranges in a timezone, plus closed dates.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

use super::BotError;
use super::config::HoursConfig;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone)]
pub struct BusinessHours {
    tz: Tz,
    /// Per weekday (Monday first): open ranges in minutes since midnight, end exclusive.
    weekly: [Vec<(u32, u32)>; 7],
    closed_dates: Vec<NaiveDate>,
    pub handoff_when_closed: bool,
}

/// `mon`..`sun` (any case) as 0..7, Monday first.
pub(crate) fn day_index(day: &str) -> Option<usize> {
    DAYS.iter().position(|d| d == &day.to_lowercase())
}

impl BusinessHours {
    pub fn new(config: &HoursConfig) -> Result<Self, BotError> {
        let invalid = |m: String| BotError::Invalid(format!("hours: {m}"));
        let tz: Tz = config
            .timezone
            .parse()
            .map_err(|_| invalid(format!("unknown timezone {}", config.timezone)))?;
        let mut weekly: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, spec) in &config.weekly {
            let index = day_index(day)
                .ok_or_else(|| invalid(format!("unknown day {day} (use mon..sun)")))?;
            weekly[index] = parse_ranges(spec).map_err(|e| invalid(format!("{day}: {e}")))?;
        }
        let closed_dates = config
            .closed_dates
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| invalid(format!("closed date {d} is not YYYY-MM-DD")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            tz,
            weekly,
            closed_dates,
            handoff_when_closed: config.handoff_when_closed,
        })
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz);
        if self.closed_dates.contains(&local.date_naive()) {
            return false;
        }
        let minute = local.hour() * 60 + local.minute();
        let day = local.weekday().num_days_from_monday() as usize;
        self.weekly.get(day).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|&(from, to)| minute >= from && minute < to)
        })
    }
}

/// `"09:00-14:00, 15:00-18:00"` (or `closed`) as minute ranges `[from, to)`.
pub(crate) fn parse_ranges(spec: &str) -> Result<Vec<(u32, u32)>, String> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("closed") || spec.is_empty() {
        return Ok(Vec::new());
    }
    spec.split(',')
        .map(|range| {
            let (from, to) = range
                .split_once('-')
                .ok_or_else(|| format!("{range:?} is not HH:MM-HH:MM"))?;
            let (from, to) = (parse_time(from)?, parse_time(to)?);
            if from >= to {
                return Err(format!("{range:?} ends before it starts"));
            }
            Ok((from, to))
        })
        .collect()
}

fn parse_time(s: &str) -> Result<u32, String> {
    let s = s.trim();
    if s == "24:00" {
        return Ok(24 * 60);
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .map(|t| t.hour() * 60 + t.minute())
        .map_err(|_| format!("{s:?} is not HH:MM"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hours() -> BusinessHours {
        BusinessHours::new(&HoursConfig {
            timezone: "Europe/Madrid".into(),
            weekly: [("mon", "09:00-14:00, 15:00-18:00"), ("sat", "closed")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            closed_dates: vec!["2026-12-07".into()],
            handoff_when_closed: true,
        })
        .unwrap()
    }

    #[test]
    fn open_and_closed() {
        let h = hours();
        // Monday 2026-11-30, 09:30 in Madrid (UTC+1) = 08:30 UTC.
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 8, 30, 0).unwrap()));
        // 14:30 Madrid: lunch break.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 13, 30, 0).unwrap()));
        // 08:30 Madrid: not yet.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 7, 30, 0).unwrap()));
        // A closed Monday.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()));
        // Saturday.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap()));
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(parse_ranges("18:00-09:00").is_err());
        assert!(parse_ranges("9-5").is_err());
        assert_eq!(parse_ranges("00:00-24:00").unwrap(), vec![(0, 1440)]);
    }
}
