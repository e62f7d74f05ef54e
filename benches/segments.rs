//! Counting a segment over 1,000,000 contacts, on SQLite and on PostgreSQL (issue 15: at most
//! 2 s on either). The contacts are generated inside the database (a recursive CTE on SQLite,
//! `generate_series` on PostgreSQL): a tenth tagged `vip`, a third on the gold plan, four
//! languages, behaviour spread over a thousand hours, a seventh who never wrote.
//!
//! - `segment_count/{backend}/exact_tag`: `"vip" in contact.tags`, counted by the database;
//! - `…/exact_behaviour`: `!contact.new && contact.last_inbound_at > now - duration("720h")`;
//! - `…/tag_and_country`: `"vip" in contact.tags && contact.country == "ES"`: exact (the stored
//!   country);
//! - `…/country`: `contact.country == "ES"`: exact, every contact a member: the worst case
//!   (before the stored country, CEL decided it contact by contact: ≈11 s);
//! - `…/cel_prefiltered`: `"vip" in contact.tags && contact.name.startsWith("Customer 1")`: the
//!   database narrows to the vip tenth, CEL decides each of them (the baseline of what CEL
//!   costs per contact, in the same run);
//!
//! The contacts are generated without their country, as contacts stored before the column, and
//! the store is opened again: its startup backfill computes every country in Rust (the time is
//! printed).
//!
//! `cargo bench --bench segments` (`SWITCHBOARD_BENCH_CONTACTS` changes the million,
//! `SWITCHBOARD_BENCH_BACKENDS=sqlite` or `postgres` runs one).

use std::time::Duration;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, SamplingMode};
use switchboard::config::DatabaseSettings;
use switchboard::crm::segment::SegmentFilter;
use switchboard::crm::segments::Segments;
use switchboard::store::side::SidePool;
use switchboard::testkit::postgres::TestDatabase;

const FILTERS: [(&str, &str); 5] = [
    ("exact_tag", "'vip' in contact.tags"),
    (
        "exact_behaviour",
        "!contact.new && contact.last_inbound_at > now - duration('720h')",
    ),
    (
        "tag_and_country",
        "'vip' in contact.tags && contact.country == 'ES'",
    ),
    ("country", "contact.country == 'ES'"),
    (
        "cel_prefiltered",
        "'vip' in contact.tags && contact.name.startsWith('Customer 1')",
    ),
];

fn contacts() -> i64 {
    std::env::var("SWITCHBOARD_BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The generated contacts' columns from a counter `i` (SQL common to both databases but the
/// string functions).
fn generate_sql(backend: &str, n: i64, now: i64) -> String {
    let (series, id, name) = match backend {
        "sqlite" => (
            format!(
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {last})
                 SELECT i FROM s",
                last = n - 1
            ),
            "'3460' || printf('%07d', i)",
            "'Customer ' || i",
        ),
        _ => (
            format!(
                "SELECT i FROM generate_series(0::bigint, {last}) AS s(i)",
                last = n - 1
            ),
            "'3460' || lpad(i::text, 7, '0')",
            "'Customer ' || i",
        ),
    };
    let json = if backend == "sqlite" { "" } else { "::json" };
    format!(
        "INSERT INTO contacts (customer, name, phone, language, fields, tags, created_at,
            updated_at, last_inbound_at, conversations)
         SELECT {id}, {name}, {id},
            CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN 'es' WHEN 2 THEN 'en' ELSE 'pt' END,
            (CASE WHEN i % 3 = 0 THEN '{{\"plan\":\"gold\"}}' ELSE '{{}}' END){json},
            (CASE i % 10 WHEN 0 THEN '[\"vip\"]' WHEN 1 THEN '[\"late\",\"gold\"]' ELSE '[]' END){json},
            {now} - (i % 1000) * 3600000, {now},
            CASE WHEN i % 7 = 0 THEN NULL ELSE {now} - (i % 1000) * 3600000 END,
            i % 5
         FROM ({series}) AS g"
    )
}

fn fresh(
    rt: &tokio::runtime::Runtime,
    backend: &str,
) -> (DatabaseSettings, Box<dyn std::any::Any>) {
    let (url, guard): (String, Box<dyn std::any::Any>) = match backend {
        "sqlite" => {
            let dir = tempfile::tempdir().expect("a temp dir");
            let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
            (url, Box::new(dir))
        }
        _ => {
            let db = rt.block_on(TestDatabase::create()).expect(
                "a PostgreSQL database (set SWITCHBOARD_TEST_POSTGRES_URL or install PostgreSQL)",
            );
            (db.url().to_string(), Box::new(db))
        }
    };
    let settings = DatabaseSettings {
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
    };
    (settings, guard)
}

fn segment_count(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let n = contacts();
    let mut group = c.benchmark_group("segment_count");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    let backends = std::env::var("SWITCHBOARD_BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".to_string());
    for backend in ["sqlite", "postgres"] {
        if !backends.split(',').any(|b| b.trim() == backend) {
            continue;
        }
        let (settings, _guard) = fresh(&rt, backend);
        // The store migrates; its own handle is not needed after.
        let store = rt
            .block_on(switchboard::store::open(&settings))
            .expect("the store opens");
        drop(store);
        let pool = rt
            .block_on(SidePool::open(&settings, 2))
            .expect("a side pool");
        let started = std::time::Instant::now();
        let sql = generate_sql(backend, n, Utc::now().timestamp_millis());
        rt.block_on(async {
            match &pool {
                SidePool::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(p)
                    .await
                    .map(|_| ()),
                SidePool::Postgres(p) => {
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await?;
                    sqlx::query("ANALYZE contacts").execute(p).await.map(|_| ())
                }
            }
        })
        .expect("contacts generated");
        eprintln!(
            "{backend}: {n} contacts generated in {:?}",
            started.elapsed()
        );
        // As contacts stored before `contacts.country`: the next opening fills it.
        rt.block_on(async {
            let sql = "INSERT INTO contact_country_backfill (after) VALUES ('')";
            match &pool {
                SidePool::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
                SidePool::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            }
        })
        .expect("the backfill armed");
        let started = std::time::Instant::now();
        let store = rt
            .block_on(switchboard::store::open(&settings))
            .expect("the store opens");
        eprintln!(
            "{backend}: the store opened, filling {n} countries, in {:?}",
            started.elapsed()
        );
        rt.block_on(store.close());
        drop(store);
        if let SidePool::Postgres(p) = &pool {
            rt.block_on(sqlx::query("ANALYZE contacts").execute(p))
                .expect("analyzed");
        }
        let segments = Segments::new(pool);
        for (label, source) in FILTERS {
            let filter = SegmentFilter::compile(source).expect("the filter compiles");
            let members = rt
                .block_on(segments.count(&filter, Utc::now()))
                .expect("counted");
            eprintln!("{backend}/{label}: {members} members");
            group.bench_function(BenchmarkId::new(backend, label), |b| {
                b.iter(|| {
                    rt.block_on(segments.count(&filter, Utc::now()))
                        .expect("counted")
                })
            });
        }
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    segment_count(&mut c);
    c.final_summary();
}
