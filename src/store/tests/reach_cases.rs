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

/// 131049 retries are taken only when their attempt's wait has passed, by one holder at a time
/// until the lease lapses, keep the message id chosen at the first claim, and are given up past
/// the last wait.
pub(crate) async fn template_retries_wait_their_turn_and_are_held_by_one(db: &TestDb) {
    use crate::campaigns::records::RetryState;
    let store = db.open().await;
    let retries = records::open(&db.settings).await.expect("campaign records");
    let t0 = 1_800_000_000_000;
    execute(
        db,
        &[
            "INSERT INTO template_retries (failed_message, channel, customer, content, attempt,
                failed_at, state, lease_until)
             VALUES ('m1', 'support', '34600000001', '{}', 1, 1800000000000, 'due', 0),
                    ('m2', 'support', '34600000002', '{}', 2, 1800000000000, 'due', 0),
                    ('m3', 'support', '34600000003', '{}', 3, 1800000000000, 'due', 0)",
        ],
    )
    .await;
    let waits = [HOUR, 2 * HOUR];
    let ids = |claimed: &[crate::campaigns::records::TemplateRetry]| {
        claimed
            .iter()
            .map(|r| r.failed_message.clone())
            .collect::<Vec<_>>()
    };
    // Before any wait: nothing; the third attempt is past the last wait: given up.
    let claimed = retries
        .claim_retries(t0 + HOUR - 1, &waits, t0 + 2 * HOUR, 10)
        .await
        .expect("claim");
    assert!(claimed.is_empty(), "{claimed:?}");
    let third = retries
        .retries_of("support", "34600000003")
        .await
        .expect("read");
    assert_eq!(third[0].state, RetryState::GaveUp);
    // The first attempt's wait passed: m1 only, with a message id.
    let claimed = retries
        .claim_retries(t0 + HOUR, &waits, t0 + HOUR + 60_000, 10)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), ["m1"]);
    let message = claimed[0].sent_message.clone().expect("a message id");
    // Held: nobody else takes it before the lease lapses; then it is taken with the same id.
    let again = retries
        .claim_retries(t0 + HOUR + 1, &waits, t0 + HOUR + 60_000, 10)
        .await
        .expect("claim");
    assert!(again.is_empty(), "{again:?}");
    let after_lease = retries
        .claim_retries(t0 + 2 * HOUR, &waits, t0 + 3 * HOUR, 10)
        .await
        .expect("claim");
    assert_eq!(ids(&after_lease), ["m1", "m2"]);
    assert_eq!(
        after_lease[0].sent_message.as_deref(),
        Some(message.as_str())
    );
    retries
        .settle_retry("m1", RetryState::Sent, None)
        .await
        .expect("settle");
    retries
        .settle_retry("m2", RetryState::Refused, Some("opted_out"))
        .await
        .expect("settle");
    let later = retries
        .claim_retries(t0 + 10 * HOUR, &waits, t0 + 11 * HOUR, 10)
        .await
        .expect("claim");
    assert!(later.is_empty(), "{later:?}");
    let second = retries
        .retries_of("support", "34600000002")
        .await
        .expect("read");
    assert_eq!(second[0].state, RetryState::Refused);
    assert_eq!(second[0].note.as_deref(), Some("opted_out"));
    assert_eq!(
        retries
            .drop_retries("support", "34600000001")
            .await
            .expect("drop"),
        1
    );
    store.close().await;
}
