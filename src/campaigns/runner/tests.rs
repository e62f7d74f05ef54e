use super::*;

fn row(state: &str, reason: Option<&str>, status: Option<&str>, n: i64) -> TallyRow {
    TallyRow {
        state: state.into(),
        reason: reason.map(str::to_owned),
        country: Some("ES".into()),
        status: status.map(str::to_owned),
        error_code: None,
        pricing_category: None,
        pricing_type: None,
        n,
        replied: 0,
        opted_out: 0,
    }
}

#[test]
fn counts_follow_recipients_and_their_messages() {
    let mut failed = row("sent", None, Some("failed"), 2);
    failed.error_code = Some(131026);
    let mut read = row("sent", None, Some("read"), 3);
    read.pricing_category = Some("marketing".into());
    read.pricing_type = Some("regular".into());
    read.replied = 2;
    read.opted_out = 1;
    let mut free = row("sent", None, Some("delivered"), 4);
    free.pricing_category = Some("marketing".into());
    free.pricing_type = Some("free_entry_point".into());
    let rows = vec![
        row("excluded", Some("no_consent"), None, 5),
        row("excluded", Some("opted_out"), None, 1),
        row("refused", Some("opted_out"), None, 1),
        row("pending", None, None, 7),
        row("claimed", None, None, 1),
        row("sent", None, Some("queued"), 1),
        failed,
        read,
        free,
    ];
    let counts = counts_of(&rows, &Prices::default(), Some(1.5));
    assert_eq!(counts.targeted, 25);
    assert_eq!(counts.excluded.get("no_consent"), Some(&5));
    assert_eq!(counts.excluded.get("opted_out"), Some(&2));
    assert_eq!(counts.pending, 8);
    assert_eq!(counts.sent, 10);
    assert_eq!(counts.delivered, 7);
    assert_eq!(counts.read, 3);
    assert_eq!(counts.failed, 2);
    assert_eq!(counts.failed_by_code.get("131026"), Some(&2));
    assert_eq!(counts.replied, 2);
    assert_eq!(counts.opted_out, 1);
    // Three charged marketing messages to Spain at the default 0.025; the free ones cost nothing.
    assert_eq!(counts.cost.actual, 0.075);
    assert_eq!(counts.cost.estimated, Some(1.5));
    assert_eq!(counts.cost.currency, "USD");
}
