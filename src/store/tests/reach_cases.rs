//! The business portfolio's reach (the messaging limit), on both databases.

use super::*;
use crate::campaigns::policy::{MessagingLimit, Reach};
use crate::campaigns::records;

const HOUR: i64 = 3_600_000;

/// At most `limit` unique customers within any 24 hours: a customer already counted is counted
/// again (their time moves on), a new one waits until the oldest leaves the window; many
/// concurrent reservations never pass the limit.
pub(crate) async fn the_reach_never_passes_the_messaging_limit(db: &TestDb) {
    let store = db.open().await;
    let reach = records::open(&db.settings).await.expect("campaign records");
    let t0 = 1_800_000_000_000;
    assert_eq!(
        reach.reserve_reach("a", t0, 2).await.ok(),
        Some(Reach::Counted)
    );
    assert_eq!(
        reach.reserve_reach("b", t0 + HOUR, 2).await.ok(),
        Some(Reach::Counted)
    );
    assert_eq!(
        reach.reserve_reach("c", t0 + 2 * HOUR, 2).await.ok(),
        Some(Reach::Full {
            limit: 2,
            retry_at: t0 + MessagingLimit::WINDOW_MS
        })
    );
    // Already reached: counted, and their time moves to now.
    assert_eq!(
        reach.reserve_reach("a", t0 + 3 * HOUR, 2).await.ok(),
        Some(Reach::Counted)
    );
    // Now b is the oldest.
    assert_eq!(
        reach.reserve_reach("c", t0 + 4 * HOUR, 2).await.ok(),
        Some(Reach::Full {
            limit: 2,
            retry_at: t0 + HOUR + MessagingLimit::WINDOW_MS
        })
    );
    // b leaves the window: c takes its place.
    let later = t0 + HOUR + MessagingLimit::WINDOW_MS;
    assert_eq!(
        reach.reserve_reach("c", later, 2).await.ok(),
        Some(Reach::Counted)
    );
    assert_eq!(
        reach.reserve_reach("b", later, 2).await.ok(),
        Some(Reach::Full {
            limit: 2,
            retry_at: t0 + 3 * HOUR + MessagingLimit::WINDOW_MS
        })
    );

    // Concurrent reservations of 40 customers from two pools (two nodes) under a limit of 25:
    // exactly 25 counted.
    let other = records::open(&db.settings).await.expect("campaign records");
    let t1 = t0 + 10 * MessagingLimit::WINDOW_MS;
    let tries = (0..40).map(|i| {
        let pool = if i % 2 == 0 { &reach } else { &other };
        async move {
            pool.reserve_reach(&format!("customer-{i}"), t1, 25)
                .await
                .expect("a reservation answers")
        }
    });
    let answers = futures::future::join_all(tries).await;
    let counted = answers.iter().filter(|a| **a == Reach::Counted).count();
    assert_eq!(counted, 25, "{answers:?}");
    assert_eq!(count(db, "SELECT COUNT(*) FROM messaging_reach").await, 25);
    store.close().await;
}
