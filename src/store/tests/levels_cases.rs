//! Reports read from the coarser rollups answer exactly what the hourly rollups answer, for
//! every grouping, in time zones on both sides of UTC and with half-hour
//! offsets, over ranges that start and end at odd hours and cross summer time; and a rebuild
//! from the hourly rows (the migration's backfill) gives the same levels.

use chrono_tz::Tz;

use super::*;
use crate::reports::summary::{self, Grouping};
use crate::reports::{Delta, Measure};
use crate::store::reports::RollupQuery;

const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000;

/// Agents and their teams ("" is a team's own rows: opened, the bot's resolutions).
const AGENTS: [(&str, &[&str]); 5] = [
    ("alice", &["sales"]),
    ("bob", &["sales", "support"]),
    ("carol", &["support"]),
    ("dave", &["vip", "sales"]),
    ("", &["sales", "support", "vip"]),
];
const CHANNELS: [&str; 2] = ["whatsapp", "telegram"];

/// A deterministic pseudo-random sequence.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

/// About three months of increments, a batch per hour with some.
fn batches() -> Vec<Vec<Delta>> {
    let mut r = Lcg(7);
    let mut out = Vec::new();
    let mut hour = START + 3 * HOUR;
    while hour < START + 95 * 24 * HOUR {
        let mut batch = Vec::new();
        for _ in 0..(1 + r.next(6)) {
            let (agent, teams) = AGENTS[r.next(AGENTS.len() as u64) as usize];
            let team = teams[r.next(teams.len() as u64) as usize];
            let channel = CHANNELS[r.next(2) as usize];
            let delta = |measure, ms| Delta {
                hour,
                team: team.into(),
                agent: agent.into(),
                channel: channel.into(),
                measure,
                ms,
            };
            if agent.is_empty() {
                batch.push(delta(Measure::Opened, None));
                batch.push(delta(Measure::Resolution, Some(r.next(400_000) as i64)));
                continue;
            }
            batch.push(delta(Measure::Assigned, None));
            batch.push(delta(Measure::Replies, None));
            batch.push(delta(
                Measure::WaitInQueue,
                Some(r.next(3) as i64 * r.next(90_000) as i64),
            ));
            batch.push(delta(Measure::FirstResponse, Some(r.next(600_000) as i64)));
            batch.push(delta(Measure::HandleTimeBh, Some(r.next(5_000_000) as i64)));
            // Presence: the same figures under each of the agent's teams, as the sampler writes.
            let online = r.next(3_600_000) as i64;
            for t in teams {
                for (m, ms) in [
                    (Measure::PresenceOnline, online),
                    (Measure::PresenceLoad, online / 2),
                ] {
                    batch.push(Delta {
                        team: (*t).into(),
                        channel: String::new(),
                        ..delta(m, Some(ms))
                    });
                }
            }
        }
        out.push(batch);
        hour += (1 + r.next(9) as i64) * HOUR;
    }
    out
}

/// Every query of the comparison: (query, time zone).
fn queries() -> Vec<(RollupQuery, Tz)> {
    let mut out = Vec::new();
    let zones = [
        "UTC",
        "Europe/Madrid",
        "Asia/Kolkata",
        "America/New_York",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    ];
    let ranges = [
        ("2026-01-01", "2026-04-06"),
        ("2026-01-15", "2026-03-02"),
        ("2026-02-10T05:00", "2026-02-11T03:00"),
        ("2026-03-27T13:00", "2026-03-31T02:00"),
    ];
    for zone in zones {
        let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
        for (from, to) in ranges {
            let (from, to) = summary::range(Some(from), Some(to), tz).expect("a range");
            for grouping in [
                Grouping::None,
                Grouping::Team,
                Grouping::Agent,
                Grouping::Day,
            ] {
                for teams in [
                    None,
                    Some(vec!["sales".to_string()]),
                    Some(vec!["support".into(), "vip".into()]),
                ] {
                    for agent in [None, Some("bob".to_string())] {
                        out.push((
                            RollupQuery {
                                from,
                                to,
                                teams: teams.clone(),
                                agent,
                                grouping,
                            },
                            tz,
                        ));
                    }
                }
            }
        }
    }
    out
}

async fn compare(store: &dyn Store) {
    let mut nonempty = 0;
    for (query, tz) in queries() {
        let (counts, bins) = store.report_rollups(&query).await.expect("hourly");
        let want = summary::summarize(&counts, &bins, query.grouping, tz, query.from, query.to);
        let got = crate::reports::read::summary(store, &query, tz)
            .await
            .expect("levels");
        assert_eq!(got, want, "{query:?} in {tz}");
        if want["total"]["counts"]["assigned"].as_i64().unwrap_or(0) > 0 {
            nonempty += 1;
        }
    }
    assert!(
        nonempty > 100,
        "the comparison saw figures ({nonempty} queries)"
    );
}

pub(crate) async fn reports_read_from_levels_match_the_hourly_rollups(db: &TestDb) {
    let store = db.open().await;
    for (at, batch) in batches().into_iter().enumerate() {
        assert!(
            store
                .record_presence_sample(at as i64 + 1, batch)
                .await
                .expect("written")
        );
    }
    compare(&*store).await;
    store.close().await;

    // Rebuilt from the hourly rows (what the migration asks for when hourly rows exist).
    execute(
        db,
        &[
            "DELETE FROM report_levels",
            "INSERT INTO report_levels_backfill (pending) VALUES (1)",
        ],
    )
    .await;
    let store = db.open().await;
    compare(&*store).await;
    assert_eq!(
        count(db, "SELECT count(*) FROM report_levels_backfill").await,
        0
    );
    store.close().await;
}
