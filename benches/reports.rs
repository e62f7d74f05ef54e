//! Reports over a year of 10,000,000 conversations, on SQLite and on PostgreSQL (issue 15: a
//! report answers in under 1 s on both). The rollup tables are filled as the conversation steps
//! would have left them, with bulk SQL inside the database (no steps are run: a year of steps
//! would take hours), then the summaries the API runs are timed end to end: the store's
//! `report_rollups` (the SQL merge) and `reports::summary::summarize` (the JSON).
//!
//! The year (`SWITCHBOARD_BENCH_DAYS`, default 365, from 2026-01-01 UTC):
//! - 8 teams of 25 agents; 3 channels;
//! - each agent works an 8-hour shift (three shifts cover the day) five days out of seven; in
//!   each of their hours, on each channel, 5 conversations: offered, accepted, assigned,
//!   resolved, 20 replies, a transfer, SLA clocks met (one first response missed), and 5
//!   durations for each of wait in queue, first response, next response, resolution and handle
//!   time, each in its own sketch bin (5 samples rarely share a 1% bin);
//! - each team, each hour, each channel (agent `''`): 49 conversations opened, 30 handed off, 18
//!   resolved by the bot (18 bins of resolution time), 1 abandoned.
//!
//! That is ≈10.3 M conversations; the bench prints the exact rows and the conversations they
//! count. Timed (each `SWITCHBOARD_BENCH_RUNS` times, default 3, after one untimed run unless
//! `SWITCHBOARD_BENCH_WARMUP=0`):
//! `year_total` (no grouping), `by_day` (365 groups, UTC), `by_day_madrid` (days of
//! Europe/Madrid), `by_agent` (200 groups), `one_team` (one team, no grouping),
//! `march_by_agent_madrid` (a month of Madrid by agent: its edge hours per agent),
//! `by_channel` (3 groups). Each agent also has presence rows for each hour they work. The
//! coarser levels are built by the store's own backfill (timed), and a report is
//! `reports::read::summary`, as the API runs it (`SWITCHBOARD_BENCH_HOURLY=1`: the hourly
//! rollups alone, as before the levels). Last, what the rollups cost a step's write.
//!
//! `cargo bench --bench reports` (`SWITCHBOARD_BENCH_BACKENDS=sqlite` or `postgres` runs one).
//! The databases live in a temporary directory (SQLite) or the suite's private PostgreSQL
//! server (a database dropped at the end).

use std::time::{Duration, Instant};

use switchboard::config::DatabaseSettings;
use switchboard::reports::summary::{self, Grouping};
use switchboard::store::reports::RollupQuery;
use switchboard::store::side::SidePool;
use switchboard::testkit::postgres::TestDatabase;

const TEAMS: i64 = 8;
const AGENTS_PER_TEAM: i64 = 25;
const CHANNELS: [&str; 3] = ["instagram", "messenger", "whatsapp"];
/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

/// Per agent, hour and channel: (measure, count, mean ms for a time). Sorted by measure.
const AGENT_COUNTS: [(&str, i64, i64); 14] = [
    ("assigned", 5, 0),
    ("first_response", 5, 40_000),
    ("handle_time", 5, 300_000),
    ("next_response", 5, 60_000),
    ("offer_accepted", 5, 0),
    ("offered", 6, 0),
    ("replies", 20, 0),
    ("resolution", 5, 900_000),
    ("resolved_by_agent", 5, 0),
    ("sla_first_response_met", 4, 0),
    ("sla_first_response_missed", 1, 0),
    ("sla_resolution_met", 5, 0),
    ("transfers", 1, 0),
    ("wait_in_queue", 5, 30_000),
];
/// Per agent, hour and channel: (time measure, lowest bin, span of bins) — the bins of 5
/// durations spread over the span (bin ≈ ln(ms)/ln(1.0202): 30 s ≈ 520, 15 min ≈ 690).
const AGENT_TIMES: [(&str, i64, i64); 5] = [
    ("first_response", 420, 200),
    ("handle_time", 560, 150),
    ("next_response", 440, 200),
    ("resolution", 600, 200),
    ("wait_in_queue", 350, 250),
];
const AGENT_SAMPLES: i64 = 5;
/// Per team, hour and channel, agent '': (measure, count, mean ms).
const TEAM_COUNTS: [(&str, i64, i64); 5] = [
    ("abandoned", 1, 0),
    ("handed_off", 30, 0),
    ("opened", 49, 0),
    ("resolution", 18, 120_000),
    ("resolved_by_bot", 18, 0),
];
const BOT_SAMPLES: i64 = 18;
/// Per agent and working hour (channel `''`, as the presence sampler writes): (measure, samples,
/// sum of ms): online 55 minutes, away 5, at two thirds of a capacity of 3.
const AGENT_PRESENCE: [(&str, i64, i64); 4] = [
    ("presence_away", 1, 300_000),
    ("presence_capacity", 11, 9_900_000),
    ("presence_load", 11, 6_600_000),
    ("presence_online", 11, 3_300_000),
];

fn env_i64(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url,
        data_dir: std::env::temp_dir(),
        max_batch: 512,
        max_wait_ms: 1,
        queue_capacity: 1_000,
        processing_slice_us: 2000,
        read_pool_size: 2,
        connect_timeout_ms: 5_000,
        inbound_retention_days: 8,
        console_retention_days: 7,
        prune_interval_minutes: 60,
    }
}

/// `VALUES (…), (…)` of the rows, each already SQL text.
fn values(rows: impl IntoIterator<Item = String>) -> String {
    rows.into_iter()
        .map(|r| format!("({r})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statements that fill the rollups of `days` days.
fn generate(postgres: bool, days: i64) -> Vec<String> {
    let series = |name: &str, n: i64| {
        if postgres {
            format!(
                "INSERT INTO {name} SELECT i FROM generate_series(0, {}) AS s(i)",
                n - 1
            )
        } else {
            format!(
                "INSERT INTO {name} WITH RECURSIVE s(i) AS
                    (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) SELECT i FROM s",
                n - 1
            )
        }
    };
    let agents = values((0..TEAMS).flat_map(|t| {
        (0..AGENTS_PER_TEAM).map(move |a| {
            format!(
                "'team-{t}', 'agent-{t}-{a:02}', {}",
                t * AGENTS_PER_TEAM + a
            )
        })
    }));
    let teams = values((0..TEAMS).map(|t| format!("'team-{t}'")));
    let channels = values(CHANNELS.iter().map(|c| format!("'{c}'")));
    let agent_counts = values(
        AGENT_COUNTS
            .iter()
            .map(|(m, n, ms)| format!("'{m}', {n}, {}", n * ms)),
    );
    let agent_times = values(
        AGENT_TIMES
            .iter()
            .map(|(m, lo, span)| format!("'{m}', {lo}, {span}")),
    );
    let team_counts = values(
        TEAM_COUNTS
            .iter()
            .map(|(m, n, ms)| format!("'{m}', {n}, {}", n * ms)),
    );
    let presence = values(
        AGENT_PRESENCE
            .iter()
            .map(|(m, n, sum)| format!("'{m}', {n}, {sum}")),
    );
    // An agent works the hours of their shift (k % 3), five days in seven.
    let works = "(h.i % 24) / 8 = a.k % 3 AND ((h.i / 24) + a.k) % 7 < 5";
    vec![
        "CREATE TABLE bench_hours (i BIGINT)".into(),
        "CREATE TABLE bench_samples (i BIGINT)".into(),
        "CREATE TABLE bench_agents (team TEXT, agent TEXT, k BIGINT)".into(),
        "CREATE TABLE bench_teams (team TEXT)".into(),
        "CREATE TABLE bench_channels (channel TEXT)".into(),
        "CREATE TABLE bench_agent_counts (measure TEXT, n BIGINT, sum_ms BIGINT)".into(),
        "CREATE TABLE bench_agent_times (measure TEXT, lo BIGINT, span BIGINT)".into(),
        "CREATE TABLE bench_team_counts (measure TEXT, n BIGINT, sum_ms BIGINT)".into(),
        "CREATE TABLE bench_presence (measure TEXT, n BIGINT, sum_ms BIGINT)".into(),
        series("bench_hours", days * 24),
        series("bench_samples", BOT_SAMPLES.max(AGENT_SAMPLES)),
        format!("INSERT INTO bench_agents VALUES {agents}"),
        format!("INSERT INTO bench_teams VALUES {teams}"),
        format!("INSERT INTO bench_channels VALUES {channels}"),
        format!("INSERT INTO bench_agent_counts VALUES {agent_counts}"),
        format!("INSERT INTO bench_agent_times VALUES {agent_times}"),
        format!("INSERT INTO bench_team_counts VALUES {team_counts}"),
        format!("INSERT INTO bench_presence VALUES {presence}"),
        // In key order (CROSS JOIN keeps SQLite's loops in this order).
        format!(
            "INSERT INTO report_counts (hour, team, agent, channel, measure, n, sum_ms)
             SELECT {START} + h.i * {HOUR}, a.team, a.agent, c.channel, m.measure, m.n, m.sum_ms
             FROM bench_hours h CROSS JOIN bench_agents a CROSS JOIN bench_channels c
                CROSS JOIN bench_agent_counts m
             WHERE {works}"
        ),
        format!(
            "INSERT INTO report_counts (hour, team, agent, channel, measure, n, sum_ms)
             SELECT {START} + h.i * {HOUR}, t.team, '', c.channel, m.measure, m.n, m.sum_ms
             FROM bench_hours h CROSS JOIN bench_teams t CROSS JOIN bench_channels c
                CROSS JOIN bench_team_counts m"
        ),
        format!(
            "INSERT INTO report_counts (hour, team, agent, channel, measure, n, sum_ms)
             SELECT {START} + h.i * {HOUR}, a.team, a.agent, '', m.measure, m.n, m.sum_ms
             FROM bench_hours h CROSS JOIN bench_agents a CROSS JOIN bench_presence m
             WHERE {works}"
        ),
        // Sample j's bin: its slice of the span, moved within it by the hour and agent.
        format!(
            "INSERT INTO report_bins (hour, team, agent, channel, measure, bin, n)
             SELECT {START} + h.i * {HOUR}, a.team, a.agent, c.channel, m.measure,
                m.lo + s.i * (m.span / {AGENT_SAMPLES}) + (h.i * 7 + a.k * 13) % (m.span / {AGENT_SAMPLES}),
                1
             FROM bench_hours h CROSS JOIN bench_agents a CROSS JOIN bench_channels c
                CROSS JOIN bench_agent_times m CROSS JOIN bench_samples s
             WHERE {works} AND s.i < {AGENT_SAMPLES}"
        ),
        format!(
            "INSERT INTO report_bins (hour, team, agent, channel, measure, bin, n)
             SELECT {START} + h.i * {HOUR}, t.team, '', c.channel, 'resolution',
                300 + s.i * 20 + (h.i * 7) % 20, 1
             FROM bench_hours h CROSS JOIN bench_teams t CROSS JOIN bench_channels c
                CROSS JOIN bench_samples s
             WHERE s.i < {BOT_SAMPLES}"
        ),
        "DROP TABLE bench_hours".into(),
        "DROP TABLE bench_samples".into(),
        "DROP TABLE bench_agents".into(),
        "DROP TABLE bench_teams".into(),
        "DROP TABLE bench_channels".into(),
        "DROP TABLE bench_agent_counts".into(),
        "DROP TABLE bench_agent_times".into(),
        "DROP TABLE bench_team_counts".into(),
        "DROP TABLE bench_presence".into(),
    ]
}

async fn run(pool: &SidePool, statements: &[String]) -> Result<(), sqlx::Error> {
    for sql in statements {
        let sql = sqlx::AssertSqlSafe(sql.clone());
        match pool {
            SidePool::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ())?,
            SidePool::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ())?,
        }
    }
    Ok(())
}

async fn scalar(pool: &SidePool, sql: &str) -> Result<i64, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match pool {
        SidePool::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        SidePool::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let days = env_i64("SWITCHBOARD_BENCH_DAYS", 365);
    let runs = env_i64("SWITCHBOARD_BENCH_RUNS", 3).max(1);
    // One untimed run first, unless SWITCHBOARD_BENCH_WARMUP=0.
    let first = if env_i64("SWITCHBOARD_BENCH_WARMUP", 1) == 0 {
        1
    } else {
        0
    };
    let backends = std::env::var("SWITCHBOARD_BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".to_string());
    let madrid: chrono_tz::Tz = "Europe/Madrid".parse().expect("a time zone");
    for backend in ["sqlite", "postgres"] {
        if !backends.split(',').any(|b| b.trim() == backend) {
            continue;
        }
        let postgres = backend == "postgres";
        let (url, _guard): (String, Box<dyn std::any::Any>) = if postgres {
            let db = rt.block_on(TestDatabase::create()).expect(
                "a PostgreSQL database (set SWITCHBOARD_TEST_POSTGRES_URL or install PostgreSQL)",
            );
            (db.url().to_string(), Box::new(db))
        } else {
            let dir = tempfile::tempdir().expect("a temp dir");
            let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
            (url, Box::new(dir))
        };
        let settings = settings(url);
        // The store migrates; the rows go in beside it, then it is opened again to read.
        let store = rt
            .block_on(switchboard::store::open(&settings))
            .expect("the store opens");
        rt.block_on(store.close());
        drop(store);
        let pool = rt
            .block_on(SidePool::open(&settings, 1))
            .expect("a side pool");
        let started = Instant::now();
        rt.block_on(async {
            if postgres {
                // Bulk load: the keys are built once after the rows.
                run(
                    &pool,
                    &[
                        "ALTER TABLE report_counts DROP CONSTRAINT report_counts_pkey".into(),
                        "ALTER TABLE report_bins DROP CONSTRAINT report_bins_pkey".into(),
                    ],
                )
                .await?;
            }
            run(&pool, &generate(postgres, days)).await?;
            if postgres {
                run(
                    &pool,
                    &[
                        "ALTER TABLE report_counts ADD PRIMARY KEY (hour, team, agent, channel, measure)".into(),
                        "ALTER TABLE report_bins ADD PRIMARY KEY (hour, team, agent, channel, measure, bin)".into(),
                        "VACUUM ANALYZE report_counts".into(),
                        "VACUUM ANALYZE report_bins".into(),
                    ],
                )
                .await?;
            } else {
                run(&pool, &["ANALYZE".into()]).await?;
            }
            Ok::<(), sqlx::Error>(())
        })
        .expect("rollups generated");
        let generated = started.elapsed();
        let (counts, bins, conversations, size) = rt
            .block_on(async {
                Ok::<_, sqlx::Error>((
                    scalar(&pool, "SELECT count(*) FROM report_counts").await?,
                    scalar(&pool, "SELECT count(*) FROM report_bins").await?,
                    scalar(
                        &pool,
                        "SELECT CAST(SUM(n) AS BIGINT) FROM report_counts WHERE measure = 'opened'",
                    )
                    .await?,
                    scalar(
                        &pool,
                        if postgres {
                            "SELECT pg_database_size(current_database())"
                        } else {
                            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
                        },
                    )
                    .await?,
                ))
            })
            .expect("counted");
        eprintln!(
            "{backend}: {conversations} conversations over {days} days: {counts} count rows, \
             {bins} bin rows, {} MB, generated in {generated:.1?}",
            size / 1_000_000
        );
        // Where a year's total goes: the plan of its bins' merge (the store's SQL).
        let explain = format!(
            "{} SELECT CAST('' AS TEXT) AS k, CAST(0 AS BIGINT) AS h, measure, bin,
                CAST(SUM(n) AS BIGINT) AS n
             FROM report_bins WHERE hour >= {START} AND hour < {}
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            if postgres {
                "EXPLAIN (ANALYZE, BUFFERS)"
            } else {
                "EXPLAIN QUERY PLAN"
            },
            START + days * 24 * HOUR
        );
        let plan: Vec<String> = rt
            .block_on(async {
                let sql = sqlx::AssertSqlSafe(explain);
                match &pool {
                    SidePool::Sqlite(p) => {
                        let rows: Vec<(i64, i64, i64, String)> =
                            sqlx::query_as(sql).fetch_all(p).await?;
                        Ok::<_, sqlx::Error>(rows.into_iter().map(|r| r.3).collect())
                    }
                    SidePool::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await,
                }
            })
            .expect("a plan");
        eprintln!("{backend}: the year total's bins:\n  {}", plan.join("\n  "));
        // The coarser levels, built by the store's own backfill (what the migration asks for
        // when hourly rollups exist), with the function the steps write them with.
        rt.block_on(run(
            &pool,
            &["INSERT INTO report_levels_backfill (pending) VALUES (1)".into()],
        ))
        .expect("the backfill asked for");
        let started = Instant::now();
        let store = rt
            .block_on(switchboard::store::open(&settings))
            .expect("the store opens");
        let built = started.elapsed();
        let levels = rt
            .block_on(scalar(&pool, "SELECT count(*) FROM report_levels"))
            .expect("counted");
        eprintln!("{backend}: {levels} level rows, built in {built:.1?}");
        drop(pool);
        let to = START + days * 24 * HOUR;
        let all = RollupQuery {
            from: START,
            to,
            teams: None,
            agent: None,
            grouping: Grouping::None,
        };
        // March in Madrid (from 2026-02-28 23:00 UTC), per agent.
        let march = RollupQuery {
            from: START + (31 + 28) * 24 * HOUR - HOUR,
            to: START + (31 + 28 + 31) * 24 * HOUR - 2 * HOUR,
            teams: None,
            agent: None,
            grouping: Grouping::Agent,
        };
        let hourly = env_i64("SWITCHBOARD_BENCH_HOURLY", 0) == 1;
        let cases: [(&str, RollupQuery, chrono_tz::Tz); 7] = [
            ("year_total", all.clone(), chrono_tz::UTC),
            (
                "by_day",
                RollupQuery {
                    grouping: Grouping::Day,
                    ..all.clone()
                },
                chrono_tz::UTC,
            ),
            (
                "by_day_madrid",
                RollupQuery {
                    grouping: Grouping::Day,
                    ..all.clone()
                },
                madrid,
            ),
            (
                "by_agent",
                RollupQuery {
                    grouping: Grouping::Agent,
                    ..all.clone()
                },
                chrono_tz::UTC,
            ),
            (
                "one_team",
                RollupQuery {
                    teams: Some(vec!["team-3".into()]),
                    ..all.clone()
                },
                chrono_tz::UTC,
            ),
            ("march_by_agent_madrid", march, madrid),
            (
                "by_channel",
                RollupQuery {
                    grouping: Grouping::Channel,
                    ..all.clone()
                },
                chrono_tz::UTC,
            ),
        ];
        for (label, query, tz) in cases {
            let mut times = Vec::new();
            let mut shape = (0, 0, 0);
            for i in first..=runs {
                let started = Instant::now();
                let report = if hourly {
                    // The hourly rollups alone (what reports read before the levels).
                    let (counts, bins) = rt
                        .block_on(store.report_rollups(&query))
                        .expect("the rollups");
                    shape.0 = counts.len() + bins.len();
                    summary::summarize(&counts, &bins, query.grouping, tz, query.from, query.to)
                } else {
                    rt.block_on(switchboard::reports::read::summary(&*store, &query, tz))
                        .expect("the report")
                };
                let elapsed = started.elapsed();
                shape.1 = report["groups"].as_array().map_or(0, Vec::len);
                shape.2 = report["total"]["counts"]["opened"].as_i64().unwrap_or(0);
                if i > 0 {
                    times.push(elapsed);
                }
                eprintln!("{backend}/{label}: run {i}: {elapsed:.2?}");
            }
            let (min, max) = (
                times.iter().min().copied().unwrap_or_default(),
                times.iter().max().copied().unwrap_or_default(),
            );
            println!(
                "{backend}/{label}: median {:.3?} [min {min:.3?}, max {max:.3?}] over {runs} runs; \
                 {} groups, {} opened{}",
                median(times),
                shape.1,
                shape.2,
                if hourly {
                    format!(", hourly rollups only: {} rows merged", shape.0)
                } else {
                    String::new()
                }
            );
        }
        // What the rollups cost a step: writes carrying a resolution step's increments (hourly
        // and levels) against the same writes carrying none, alternating, through the store's
        // own transaction (the presence sampler's path).
        let step = |hour: i64, k: i64| -> Vec<switchboard::reports::Delta> {
            use switchboard::reports::Measure as M;
            let agent = format!("agent-{}-{:02}", k % TEAMS, k % AGENTS_PER_TEAM);
            let team = format!("team-{}", k % TEAMS);
            [
                (M::ResolvedByAgent, None),
                (M::Resolution, Some(600_000 + k * 1_000)),
                (M::HandleTime, Some(240_000 + k * 700)),
                (M::ResolutionBh, Some(500_000 + k * 900)),
                (M::HandleTimeBh, Some(200_000 + k * 500)),
                (M::SlaResolutionMet, None),
                (M::Replies, None),
                (M::Assigned, None),
            ]
            .into_iter()
            .map(|(measure, ms)| switchboard::reports::Delta {
                hour,
                team: team.clone(),
                agent: agent.clone(),
                channel: "whatsapp".into(),
                measure,
                ms,
            })
            .collect()
        };
        let writes = env_i64("SWITCHBOARD_BENCH_WRITES", 2_000);
        let (mut with, mut without) = (Duration::ZERO, Duration::ZERO);
        for k in 0..writes {
            let hour = START + (days * 24 - 1 - k % 24) * HOUR;
            for (deltas, spent) in [(step(hour, k), &mut with), (Vec::new(), &mut without)] {
                let started = Instant::now();
                rt.block_on(store.record_presence_sample(
                    4_000_000_000_000 + 2 * k + 1 + i64::from(deltas.is_empty()),
                    deltas,
                ))
                .expect("written");
                *spent += started.elapsed();
            }
        }
        println!(
            "{backend}/step_write: {:.0?} a write with a resolution's 8 increments, {:.0?} without \
             ({writes} of each): the rollups cost {:.0?} a step",
            with / writes as u32,
            without / writes as u32,
            (with.saturating_sub(without)) / writes as u32
        );
        rt.block_on(store.close());
    }
}
