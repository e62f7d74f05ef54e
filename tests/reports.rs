//! Reports over HTTP, in both modes (SQLite and PostgreSQL): a scripted day of conversations with
//! known times (an agent's, a transfer, an abandoned one, the bot's alone, a snooze and reopen,
//! one after local midnight) is committed through the store as the conversation actors commit
//! their steps, and every figure of the summary and the CSV is checked against the hand-computed
//! one; who may read which reports; bad queries change nothing and say why.

mod common;

use common::console::*;
use serde_json::Value;
use switchboard::domain::{
    AgentId, ChannelId, ConversationKey, CustomerId, MessageId, OutboundContent, OutboundMessage,
    ProviderMessageId, Sender, TeamId,
};
use switchboard::reports::hours::{Calendar, TeamCalendars};
use switchboard::store::{
    ConversationEvent, ConversationRecord, ConversationStatus, ConversationStep,
    InboundMessageRecord, Store,
};

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
/// 2026-11-30T00:00:00Z, a Monday.
const DAY: i64 = 1_795_996_800_000;
const CHANNEL: &str = "wa-support";

/// One conversation, stepped through the store like the conversation actor does.
struct Conv<'a> {
    store: &'a dyn Store,
    c: ConversationRecord,
    /// The calendars its steps carry (as the conversation's actor resolves them).
    calendars: TeamCalendars,
}

fn event(kind: &str, agent: Option<&str>, team: Option<&str>) -> ConversationEvent {
    ConversationEvent {
        kind: kind.into(),
        agent: agent.map(AgentId::new),
        team: team.map(TeamId::new),
        detail: None,
    }
}

impl<'a> Conv<'a> {
    /// The customer writes at `at`: a new conversation, in the bot's hands.
    async fn open(store: &'a dyn Store, customer: &str, at: i64) -> Conv<'a> {
        let channel = ChannelId::new(CHANNEL);
        let customer = CustomerId::new(customer);
        let key = ConversationKey::new(&channel, &customer);
        let mut conv = Conv {
            store,
            c: ConversationRecord::new(key, channel, customer, at),
            calendars: TeamCalendars::default(),
        };
        conv.commit(at, ConversationStep::empty(), |_| {}).await;
        conv
    }

    async fn commit(
        &mut self,
        at: i64,
        mut step: ConversationStep,
        change: impl FnOnce(&mut ConversationRecord),
    ) {
        change(&mut self.c);
        self.c.updated_at = at;
        step.conversation = Some(self.c.clone());
        step.calendars = self.calendars.clone();
        self.store.commit_step(step).await.expect("step committed");
        self.c.version += 1;
    }

    async fn handoff(&mut self, at: i64, team: &str) {
        self.commit(at, ConversationStep::empty(), |c| {
            c.status = ConversationStatus::Waiting;
            c.team = Some(TeamId::new(team));
            c.handoff_at = Some(at);
        })
        .await;
    }

    async fn assign(&mut self, at: i64, agent: &str) {
        let step = ConversationStep {
            events: vec![event("assigned", Some(agent), None)],
            ..ConversationStep::empty()
        };
        self.commit(at, step, |c| {
            c.status = ConversationStatus::Assigned;
            c.assignee = Some(AgentId::new(agent));
            c.assigned_at = Some(at);
        })
        .await;
    }

    async fn reply(&mut self, at: i64) {
        let message = OutboundMessage {
            id: MessageId::generate(),
            conversation: self.c.key.clone(),
            channel: self.c.channel.clone(),
            to: self.c.customer.clone(),
            content: OutboundContent::Text {
                body: "hello".into(),
                preview_url: false,
            },
            reply_to: None,
        };
        let step = ConversationStep {
            outbound: vec![(message, Sender::Agent)],
            agent: self.c.assignee.clone(),
            ..ConversationStep::empty()
        };
        self.commit(at, step, |c| {
            c.first_response_at.get_or_insert(at);
        })
        .await;
    }

    async fn customer_writes(&mut self, at: i64) {
        let step = ConversationStep {
            inbound_message: Some(InboundMessageRecord {
                id: MessageId::generate(),
                provider_id: ProviderMessageId::new(format!("wamid.{}.{at}", self.c.id)),
                kind: "text".into(),
                body: serde_json::json!({"type": "text", "body": "still there?"}),
                sent_at: at / 1000,
            }),
            ..ConversationStep::empty()
        };
        self.commit(at, step, |c| c.last_inbound_at = Some(at))
            .await;
    }

    async fn transfer(&mut self, at: i64, by: &str, to_team: &str) {
        let step = ConversationStep {
            events: vec![event("transferred", Some(by), Some(to_team))],
            ..ConversationStep::empty()
        };
        self.commit(at, step, |c| {
            c.status = ConversationStatus::Waiting;
            c.team = Some(TeamId::new(to_team));
            c.assignee = None;
            c.handoff_at = Some(at);
        })
        .await;
    }

    async fn snooze(&mut self, at: i64, until: i64) {
        let step = ConversationStep {
            events: vec![event(
                "snoozed",
                self.c.assignee.as_ref().map(|a| a.as_str()),
                None,
            )],
            ..ConversationStep::empty()
        };
        self.commit(at, step, |c| {
            c.status = ConversationStatus::Snoozed;
            c.snoozed_until = Some(until);
        })
        .await;
    }

    async fn reopen(&mut self, at: i64) {
        let team = self.c.team.as_ref().map(|t| t.as_str().to_string());
        let step = ConversationStep {
            events: vec![event("reopened", None, team.as_deref())],
            ..ConversationStep::empty()
        };
        self.commit(at, step, |c| {
            c.status = ConversationStatus::Waiting;
            c.snoozed_until = None;
            c.handoff_at = Some(at);
        })
        .await;
    }

    async fn resolve(&mut self, at: i64, by: &str) {
        let team = self.c.team.as_ref().map(|t| t.as_str().to_string());
        let step = ConversationStep {
            events: vec![event("resolved", Some(by), team.as_deref())],
            ..ConversationStep::empty()
        };
        self.commit(at, step, |c| {
            c.status = ConversationStatus::Resolved;
            c.resolved_at = Some(at);
        })
        .await;
    }
}

/// The scripted day (UTC times; Madrid is UTC+1 in winter).
async fn script_the_day(store: &dyn Store) {
    let t = |h: i64, m: i64, s: i64| DAY + h * H + m * M + s * S;
    // C1: support, Alice, one follow-up; resolved.
    let mut c1 = Conv::open(store, "34600000001", t(9, 0, 0)).await;
    c1.handoff(t(9, 1, 0), "support").await;
    c1.assign(t(9, 2, 0), "alice").await;
    c1.reply(t(9, 4, 0)).await;
    c1.customer_writes(t(9, 5, 0)).await;
    c1.reply(t(9, 6, 0)).await;
    c1.resolve(t(9, 30, 0), "alice").await;
    // C2: support, Bob transfers to sales, Carla resolves.
    let mut c2 = Conv::open(store, "34600000002", t(9, 10, 0)).await;
    c2.handoff(t(9, 10, 30), "support").await;
    c2.assign(t(9, 12, 30), "bob").await;
    c2.reply(t(9, 13, 30)).await;
    c2.transfer(t(9, 20, 0), "bob", "sales").await;
    c2.assign(t(9, 25, 0), "carla").await;
    c2.reply(t(9, 26, 0)).await;
    c2.customer_writes(t(9, 27, 0)).await;
    c2.reply(t(9, 29, 0)).await;
    c2.resolve(t(9, 40, 0), "carla").await;
    // C3: the customer gave up waiting; Sam clears the queue.
    let mut c3 = Conv::open(store, "34600000003", t(10, 0, 0)).await;
    c3.handoff(t(10, 0, 20), "support").await;
    c3.resolve(t(10, 30, 0), "sam").await;
    // C4: the bot's alone.
    let mut c4 = Conv::open(store, "34600000004", t(11, 0, 0)).await;
    c4.resolve(t(11, 5, 0), "admin").await;
    // C5: Alice snoozes it; it reopens two hours later and she resolves it.
    let mut c5 = Conv::open(store, "34600000005", t(13, 0, 0)).await;
    c5.handoff(t(13, 1, 0), "support").await;
    c5.assign(t(13, 1, 30), "alice").await;
    c5.reply(t(13, 2, 0)).await;
    c5.snooze(t(13, 10, 0), t(15, 0, 0)).await;
    c5.reopen(t(15, 0, 0)).await;
    c5.assign(t(15, 0, 40), "alice").await;
    c5.customer_writes(t(15, 1, 0)).await;
    c5.reply(t(15, 2, 0)).await;
    c5.resolve(t(15, 10, 0), "alice").await;
    // C6: after midnight in Madrid (December 1st there), still waiting.
    let mut c6 = Conv::open(store, "34600000006", t(23, 30, 0)).await;
    c6.handoff(t(23, 30, 0), "support").await;
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64()
        .is_some_and(|got| (got - want).abs() <= want * 0.01 + 0.01)
}

/// count, mean, p50, p90, p99 (seconds) of a time.
fn assert_time(figures: &Value, name: &str, count: u64, mean: f64, p: [f64; 3]) {
    let t = &figures["times"][name];
    assert_eq!(t["count"], count, "{name}: {t}");
    assert_eq!(t["mean_s"].as_f64(), Some(mean), "{name}: {t}");
    for (key, want) in ["p50_s", "p90_s", "p99_s"].iter().zip(p) {
        assert!(
            close(&t[key], want),
            "{name} {key}: {t} (want {want} within 1%)"
        );
    }
}

fn counts(figures: &Value) -> Vec<i64> {
    [
        "opened",
        "handed_off",
        "resolved_by_bot",
        "resolved_by_agent",
        "reopened",
        "abandoned",
        "transfers",
        "replies",
    ]
    .iter()
    .map(|k| figures["counts"][k].as_i64().unwrap_or(-1))
    .collect()
}

fn group<'v>(report: &'v Value, key: &str) -> &'v Value {
    report["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["key"] == key))
        .unwrap_or(&Value::Null)
}

async fn csv(app: &common::TestApp, token: &str, query: &str) -> (u16, String) {
    text_at(
        app,
        token,
        &format!("/api/v1/reports/conversations.csv?{query}"),
    )
    .await
}

async fn text_at(app: &common::TestApp, token: &str, path: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn a_scripted_day_gives_the_hand_computed_figures() {
    let app = spawn_console_app(|_| {}).await;
    let store = switchboard::store::open(&app.settings.database)
        .await
        .expect("the store opens beside the app");
    script_the_day(store.as_ref()).await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let day = "from=2026-11-30&to=2026-12-01&tz=Europe/Madrid";

    // The whole Madrid day, as the admin sees it.
    let report = expect_status(
        200,
        admin.get(&format!("/api/v1/reports/summary?{day}")).await,
    );
    let total = &report["total"];
    assert_eq!(report["tz"], "Europe/Madrid");
    assert_eq!(report["from"], "2026-11-30T00:00:00+01:00");
    assert_eq!(report["relative_error"], 0.01);
    // opened, handed off, by bot, by agents, reopened, abandoned, transfers, replies.
    assert_eq!(counts(total), [5, 4, 1, 3, 1, 1, 1, 7]);
    // Waits 60, 120, 300, 30, 40 s; first responses 180, 180, 60; next responses 60, 120, 60;
    // resolutions 1800, 1800, 7800; holds 1680, 450, 900, 510, 560.
    assert_time(total, "wait_in_queue", 5, 110.0, [60.0, 120.0, 120.0]);
    assert_time(total, "first_response", 3, 140.0, [180.0, 180.0, 180.0]);
    assert_time(total, "next_response", 3, 80.0, [60.0, 60.0, 60.0]);
    assert_time(total, "resolution", 3, 3800.0, [1800.0, 1800.0, 1800.0]);
    assert_time(total, "handle_time", 5, 820.0, [560.0, 900.0, 900.0]);

    // By team: the bot's conversations have none; sales got the transfer.
    let by_team = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{day}&group=team"))
            .await,
    );
    assert_eq!(counts(group(&by_team, "")), [5, 0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(counts(group(&by_team, "support")), [0, 4, 0, 2, 1, 1, 1, 5]);
    assert_eq!(counts(group(&by_team, "sales")), [0, 0, 0, 1, 0, 0, 0, 2]);
    // C2's transfer, received by sales (waiting in its queue: no agent).
    assert_eq!(group(&by_team, "sales")["counts"]["transfers_in"], 1);
    assert_eq!(group(&by_team, "support")["counts"]["transfers_in"], 0);
    // No team has a calendar here: no business-hours times.
    assert_eq!(
        by_team["total"]["times_business_hours"]["wait_in_queue"]["count"],
        0
    );
    assert_time(
        group(&by_team, "sales"),
        "wait_in_queue",
        1,
        300.0,
        [300.0; 3],
    );
    assert_time(
        group(&by_team, "sales"),
        "next_response",
        1,
        120.0,
        [120.0; 3],
    );
    assert_time(
        group(&by_team, "support"),
        "handle_time",
        4,
        800.0,
        [510.0, 560.0, 560.0],
    );

    // By agent, and one agent's figures.
    let by_agent = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{day}&group=agent"))
            .await,
    );
    assert_time(
        group(&by_agent, "alice"),
        "handle_time",
        3,
        916.67,
        [560.0, 560.0, 560.0],
    );
    assert_eq!(group(&by_agent, "bob")["counts"]["transfers"], 1);
    assert_eq!(group(&by_agent, "")["counts"]["transfers_in"], 1);
    let alice = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{day}&agent=alice"))
            .await,
    );
    assert_time(
        &alice["total"],
        "wait_in_queue",
        3,
        43.33,
        [40.0, 40.0, 40.0],
    );
    assert_eq!(alice["total"]["counts"]["replies"], 4);

    // By hour of Madrid: 10:00 local holds C1 and C2's start.
    let by_hour = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{day}&group=hour"))
            .await,
    );
    assert_eq!(
        group(&by_hour, "2026-11-30T10:00:00+01:00")["counts"]["opened"],
        2
    );
    assert_eq!(
        group(&by_hour, "2026-11-30T16:00:00+01:00")["counts"]["reopened"],
        1
    );

    // By day of Madrid: C6 opened on December 1st there (23:30 UTC).
    let by_day = expect_status(
        200,
        admin
            .get("/api/v1/reports/summary?from=2026-11-30&to=2026-12-02&tz=Europe/Madrid&group=day")
            .await,
    );
    assert_eq!(
        counts(group(&by_day, "2026-11-30")),
        [5, 4, 1, 3, 1, 1, 1, 7]
    );
    assert_eq!(
        counts(group(&by_day, "2026-12-01")),
        [1, 1, 0, 0, 0, 0, 0, 0]
    );
    // In UTC the same conversation is November 30th's.
    let utc = expect_status(
        200,
        admin
            .get("/api/v1/reports/summary?from=2026-11-30&to=2026-12-01&tz=UTC")
            .await,
    );
    assert_eq!(utc["total"]["counts"]["opened"], 6);

    // Sam supervises the teams: not the bot's conversations of no team.
    let supervised = expect_status(
        200,
        sam.get(&format!("/api/v1/reports/summary?{day}")).await,
    );
    assert_eq!(counts(&supervised["total"]), [0, 4, 0, 3, 1, 1, 1, 7]);
    let sales = expect_status(
        200,
        sam.get(&format!("/api/v1/reports/summary?{day}&team=sales"))
            .await,
    );
    assert_eq!(sales["total"]["counts"]["resolved_by_agent"], 1);

    // The CSV: one row per conversation opened in the range, its times in Madrid's.
    let (status, text) = csv(&app, admin.token(), day).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].starts_with("conversation_id,channel,team,agent,status,outcome,opened_at"));
    let c1: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(
        &c1[1..],
        [
            CHANNEL,
            "support",
            "alice",
            "resolved",
            "agent",
            "2026-11-30T10:00:00+01:00",
            "2026-11-30T10:01:00+01:00",
            "2026-11-30T10:02:00+01:00",
            "2026-11-30T10:04:00+01:00",
            "2026-11-30T10:30:00+01:00",
            "60.000",
            "180.000",
            "1800.000",
            "1680.000",
            "2",
            "0",
            "0"
        ]
    );
    let c2: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(
        (c2[2], c2[3], c2[11], c2[14], c2[16]),
        ("sales", "carla", "420.000", "1350.000", "1")
    );
    let c3: Vec<&str> = lines[3].split(',').collect();
    assert_eq!((c3[5], c3[8], c3[12]), ("abandoned", "", ""));
    let c5: Vec<&str> = lines[5].split(',').collect();
    assert_eq!((c5[13], c5[17]), ("7800.000", "1"));
    // Sam's CSV leaves out the bot's conversation of no team.
    let (_, supervised) = csv(&app, sam.token(), day).await;
    assert_eq!(supervised.lines().count(), 5);
}

async fn who_may_read_reports_and_bad_queries() {
    let app = spawn_console_app(|_| {}).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    let day = "from=2026-11-30&to=2026-12-01";
    expect_status(
        403,
        alice.get(&format!("/api/v1/reports/summary?{day}")).await,
    );
    assert_eq!(csv(&app, alice.token(), day).await.0, 403);
    expect_status(
        403,
        sam.get(&format!("/api/v1/reports/summary?{day}&team=nobody"))
            .await,
    );
    for bad in [
        "from=2026-11-30",
        "from=2026-12-01&to=2026-11-30",
        "from=yesterday&to=2026-11-30",
        "from=2026-11-30&to=2026-12-01&tz=Mars/Olympus",
        "from=2026-11-30&to=2026-12-01&group=week",
        "from=2026-11-30&to=2026-12-01&colour=blue",
    ] {
        let (status, body) = sam.get(&format!("/api/v1/reports/summary?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        csv(
            &app,
            sam.token(),
            "from=2026-11-30&to=2026-12-01&tz=Nowhere"
        )
        .await
        .0,
        400
    );
    // An empty range is all zeros.
    let empty = expect_status(
        200,
        sam.get(&format!("/api/v1/reports/summary?{day}")).await,
    );
    assert_eq!(counts(&empty["total"]), [0; 8]);
    assert_eq!(
        empty["total"]["times"]["first_response"]["p50_s"],
        Value::Null
    );
}

/// The real path: a customer hands off, Alice is assigned, replies and resolves; the actors'
/// steps write the figures.
async fn a_live_conversation_is_counted_by_its_steps() {
    let app = spawn_console_app(|_| {}).await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let customer = Customer::new(&app, "34600700001");
    let id = customer.hands_off_to("support").await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let (status, body) = alice.reply(&id, "Hello, how can I help?").await;
    assert!(status < 300, "{body}");
    let (status, body) = alice.resolve(&id).await;
    assert!(status < 300, "{body}");
    let hour = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let now = now_ms();
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let report = expect_status(
        200,
        admin
            .get(&format!(
                "/api/v1/reports/summary?from={}&to={}",
                hour(now - H),
                hour(now + H)
            ))
            .await,
    );
    let total = &report["total"];
    assert_eq!(counts(total), [1, 1, 0, 1, 0, 0, 0, 1], "{report}");
    for time in [
        "wait_in_queue",
        "first_response",
        "resolution",
        "handle_time",
    ] {
        assert_eq!(total["times"][time]["count"], 1, "{time}: {report}");
    }

    // The same figures as a table: the total and Alice's row, a column per figure.
    let (status, table) = text_at(
        &app,
        admin.token(),
        &format!(
            "/api/v1/reports/summary.csv?from={}&to={}&group=agent",
            hour(now - H),
            hour(now + H)
        ),
    )
    .await;
    assert_eq!(status, 200, "{table}");
    let mut reader = ::csv::Reader::from_reader(table.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map(|h| h.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = reader
        .records()
        .filter_map(Result::ok)
        .map(|r| r.iter().map(str::to_owned).collect())
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}: {header:?}"))
    };
    let row = |group: &str| {
        rows.iter()
            .find(|r| r[0] == group)
            .unwrap_or_else(|| panic!("no row {group}: {table}"))
    };
    assert_eq!(
        row("total")[column("counts.resolved_by_agent")],
        "1",
        "{table}"
    );
    assert_eq!(row("alice")[column("counts.replies")], "1", "{table}");
    assert_eq!(
        row("alice")[column("times.handle_time.count")],
        "1",
        "{table}"
    );
    assert_eq!(
        row("total")[column("times.first_response.p50_s")],
        total["times"]["first_response"]["p50_s"].to_string(),
        "{table}"
    );
}

/// A customer who says goodbye to the bot: the flow's `end` step resolves the conversation,
/// counted as resolved by the bot alone; their next message starts a new conversation.
async fn a_goodbye_to_the_bot_is_resolved_by_the_bot() {
    let app = spawn_console_app(|_| {}).await;
    let customer = Customer::new(&app, "34600700002");
    customer.says("hola").await;
    customer.wait_for_text("¿En qué te puedo ayudar?").await;
    customer.says("eso es todo, gracias").await;
    customer.wait_for_text("Gracias por escribirnos").await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let now = now_ms();
    let hour = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let query = format!(
        "/api/v1/reports/summary?from={}&to={}",
        hour(now - H),
        hour(now + H)
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let report = expect_status(200, admin.get(&query).await);
        if counts(&report["total"]) == [1, 0, 1, 0, 0, 0, 0, 0] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "resolved by the bot: {report}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Writing again opens a new conversation, greeted again.
    customer.says("hola otra vez").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let report = expect_status(200, admin.get(&query).await);
        if report["total"]["counts"]["opened"] == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a second conversation: {report}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The `madrid` calendar of the configuration (Monday to Friday 09:00–18:00 in Madrid, that is
/// 08:00–17:00 UTC in winter), as the actor resolves it for team billing.
fn madrid(app: &common::TestApp) -> TeamCalendars {
    let config = app
        .settings
        .business_hours
        .get("madrid")
        .expect("the madrid calendar is configured");
    let calendar = Calendar::from_config(config).expect("a good calendar");
    TeamCalendars::new(vec![("billing".into(), std::sync::Arc::new(calendar))])
}

async fn business_hours_transfers_in_and_presence_give_the_hand_computed_figures() {
    // Samples are taken by hand here, at scripted instants (the app's own sampler is off).
    let app = spawn_console_app(|s| s.reports.presence_sample_seconds = 0).await;
    let store = switchboard::store::open(&app.settings.database)
        .await
        .expect("the store opens beside the app");
    let t = |day: i64, h: i64, m: i64| DAY + day * 24 * H + h * H + m * M;

    // B1, billing (calendar madrid: open 08:00–17:00 UTC): opened Monday 16:00 UTC, handed off
    // 16:30, assigned to Bob 16:50; the first reply comes Tuesday 08:20, after the close at 17:00
    // and the reopening at 08:00; the customer writes 08:30, Bob answers 08:45, resolves 09:00.
    let mut b1 = Conv::open(store.as_ref(), "34600000101", t(0, 16, 0)).await;
    b1.calendars = madrid(&app);
    b1.handoff(t(0, 16, 30), "billing").await;
    b1.assign(t(0, 16, 50), "bob").await;
    b1.reply(t(1, 8, 20)).await;
    b1.customer_writes(t(1, 8, 30)).await;
    b1.reply(t(1, 8, 45)).await;
    b1.resolve(t(1, 9, 0), "bob").await;
    // B2, support (no calendar): Alice has it a minute after the handoff and hands it straight
    // to Bob (transferred and assigned in one step, as a transfer to an agent is).
    let mut b2 = Conv::open(store.as_ref(), "34600000102", t(0, 10, 0)).await;
    b2.handoff(t(0, 10, 1), "support").await;
    b2.assign(t(0, 10, 2), "alice").await;
    let step = ConversationStep {
        events: vec![
            event("transferred", Some("alice"), Some("support")),
            event("assigned", Some("bob"), Some("support")),
        ],
        ..ConversationStep::empty()
    };
    b2.commit(t(0, 10, 5), step, |c| {
        c.assignee = Some(AgentId::new("bob"));
        c.handoff_at = Some(t(0, 10, 5));
        c.assigned_at = Some(t(0, 10, 5));
    })
    .await;

    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let days = "from=2026-11-30&to=2026-12-02&tz=UTC";
    let report = expect_status(
        200,
        admin.get(&format!("/api/v1/reports/summary?{days}")).await,
    );
    let total = &report["total"];
    // Calendar time: waits 1200 s (B1) and 60 s (B2), 0 s (B2 to Bob); B1's first response
    // 16:30 → 08:20 = 15 h 50 min = 57000 s; its resolution 16:00 → 09:00 = 17 h = 61200 s.
    // (0, 60, 1200: each percentile is the value of rank ⌊q·2⌋, the middle one.)
    assert_time(total, "wait_in_queue", 3, 420.0, [60.0, 60.0, 60.0]);
    assert_time(total, "first_response", 1, 57000.0, [57000.0; 3]);
    assert_time(total, "resolution", 1, 61200.0, [61200.0; 3]);
    // Business hours, B1 only (billing has the calendar): wait 16:30–16:50 = 1200 s; first
    // response 16:30–17:00 + 08:00–08:20 = 3000 s; next response 08:30–08:45 = 900 s;
    // resolution 16:00–17:00 + 08:00–09:00 = 7200 s; held 16:50–17:00 + 08:00–09:00 = 4200 s.
    let bh = &total["times_business_hours"];
    let bh = serde_json::json!({ "times": bh });
    assert_time(&bh, "wait_in_queue", 1, 1200.0, [1200.0; 3]);
    assert_time(&bh, "first_response", 1, 3000.0, [3000.0; 3]);
    assert_time(&bh, "next_response", 1, 900.0, [900.0; 3]);
    assert_time(&bh, "resolution", 1, 7200.0, [7200.0; 3]);
    assert_time(&bh, "handle_time", 1, 4200.0, [4200.0; 3]);
    // Transfers: out under Alice and support, in under Bob and support.
    let by_agent = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{days}&group=agent"))
            .await,
    );
    assert_eq!(group(&by_agent, "alice")["counts"]["transfers"], 1);
    assert_eq!(group(&by_agent, "alice")["counts"]["transfers_in"], 0);
    assert_eq!(group(&by_agent, "bob")["counts"]["transfers_in"], 1);
    assert_eq!(group(&by_agent, "bob")["counts"]["transfers"], 0);

    // Presence: Bob (teams support and billing, capacity 3) on the board, sampled every 10 min.
    let mut board = switchboard::assign::board::Board::from_settings(&app.settings);
    let bob = AgentId::new("bob");
    let every = 10 * M;
    let ticket = |n: u32, at: i64| {
        let channel = ChannelId::new(CHANNEL);
        let customer = CustomerId::new(format!("3460000020{n}"));
        switchboard::assign::Ticket {
            conversation: switchboard::assign::ConversationRef {
                id: format!("presence-{n}"),
                key: ConversationKey::new(&channel, &customer),
                channel,
            },
            team: TeamId::new("billing"),
            priority: 0,
            arrival_ms: at,
            preferred_agent: None,
        }
    };
    let sample = |board: &switchboard::assign::board::Board, at: i64| {
        let agents = board.snapshot().expect("a snapshot").agents;
        switchboard::reports::presence::sample(&agents, at, every)
    };
    let nine = |m: i64| t(0, 9, 0) + m * M;
    // 09:00 online, with one conversation: load 1.
    board
        .set_presence(&bob, switchboard::domain::Presence::Online, nine(0))
        .expect("presence set");
    board.place(ticket(1, nine(0))).expect("placed");
    for at in [nine(10), nine(20)] {
        assert!(
            store
                .record_presence_sample(at, sample(&board, at))
                .await
                .expect("recorded")
        );
    }
    // 09:25 away: the 09:30 sample counts 5 min away (09:20–09:25 online is not counted).
    board
        .set_presence(&bob, switchboard::domain::Presence::Away, nine(25))
        .expect("presence set");
    for at in [nine(30), nine(40)] {
        assert!(
            store
                .record_presence_sample(at, sample(&board, at))
                .await
                .expect("recorded")
        );
    }
    // 09:40 online again, a second conversation: load 2.
    board
        .set_presence(&bob, switchboard::domain::Presence::Online, nine(40))
        .expect("presence set");
    board.place(ticket(2, nine(40))).expect("placed");
    assert!(
        store
            .record_presence_sample(nine(50), sample(&board, nine(50)))
            .await
            .expect("recorded")
    );
    // The same instant again (a retry, or a second node), or an earlier one: nothing.
    assert!(
        !store
            .record_presence_sample(nine(50), sample(&board, nine(50)))
            .await
            .expect("answered")
    );
    assert!(
        !store
            .record_presence_sample(nine(30), sample(&board, nine(30)))
            .await
            .expect("answered")
    );
    assert!(
        store
            .record_presence_sample(nine(60), sample(&board, nine(60)))
            .await
            .expect("recorded")
    );
    // 10:00 offline: later samples add nothing for Bob.
    board
        .set_presence(&bob, switchboard::domain::Presence::Offline, nine(60))
        .expect("presence set");
    assert!(
        store
            .record_presence_sample(nine(70), sample(&board, nine(70)))
            .await
            .expect("recorded")
    );

    // Online 09:00–09:20 and 09:40–10:00: 2400 s; away 09:25–09:40: 900 s. Load × time:
    // 1 × 1200 s + 2 × 1200 s = 3600 s; capacity × time 3 × 2400 s = 7200 s: occupancy 0.5.
    let day = "from=2026-11-30&to=2026-12-01&tz=UTC";
    let by_agent = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{day}&group=agent"))
            .await,
    );
    let presence = &group(&by_agent, "bob")["presence"];
    assert_eq!(presence["online_s"], 2400.0, "{by_agent}");
    assert_eq!(presence["away_s"], 900.0, "{by_agent}");
    assert_eq!(presence["occupancy"], 0.5, "{by_agent}");
    // Alice never came online: no occupancy.
    assert_eq!(group(&by_agent, "alice")["presence"]["online_s"], 0.0);
    assert_eq!(
        group(&by_agent, "alice")["presence"]["occupancy"],
        Value::Null
    );
    // Bob's two teams: once in the total and for `agent=`, once in each team by team.
    assert_eq!(by_agent["total"]["presence"]["online_s"], 2400.0);
    let bob_only = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{day}&agent=bob"))
            .await,
    );
    assert_eq!(bob_only["total"]["presence"]["away_s"], 900.0);
    assert_eq!(bob_only["total"]["presence"]["occupancy"], 0.5);
    let by_team = expect_status(
        200,
        admin
            .get(&format!("/api/v1/reports/summary?{day}&group=team"))
            .await,
    );
    for team in ["support", "billing"] {
        assert_eq!(
            group(&by_team, team)["presence"]["online_s"],
            2400.0,
            "{team}"
        );
    }
    assert_eq!(
        group(&by_team, "sales")["presence"]["online_s"],
        Value::Null
    );
    // By hour: all of it in 09:00–10:00 UTC.
    let by_hour = expect_status(
        200,
        admin
            .get(&format!(
                "/api/v1/reports/summary?{day}&group=hour&agent=bob"
            ))
            .await,
    );
    assert_eq!(
        group(&by_hour, "2026-11-30T09:00:00+00:00")["presence"]["online_s"],
        2400.0
    );
    // Sam supervises Bob's teams: he sees Bob's figures through either of them.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let seen = expect_status(
        200,
        sam.get(&format!(
            "/api/v1/reports/summary?{day}&agent=bob&team=billing"
        ))
        .await,
    );
    assert_eq!(seen["total"]["presence"]["online_s"], 2400.0);
}

/// The live path: the app's own sampler (every second) counts an agent who comes online, and a
/// conversation of a team with a calendar gets business-hours times from the actor's steps.
async fn the_sampler_and_the_actors_write_presence_and_business_hours() {
    let app = spawn_console_app(|s| {
        s.reports.presence_sample_seconds = 1;
        let mut always = s
            .business_hours
            .get("madrid")
            .cloned()
            .expect("the madrid calendar is configured");
        always.weekly = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| (d.to_string(), "00:00-24:00".to_string()))
            .collect();
        always.closed_dates.clear();
        s.business_hours.insert("always".into(), always);
        if let Some(support) = s.teams.get_mut("support") {
            support.business_hours = Some("always".into());
        }
    })
    .await;
    let alice = Console::new(&app, ALICE);
    let mut ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let customer = Customer::new(&app, "34600700002");
    let id = customer.hands_off_to("support").await;
    ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let (status, body) = alice.reply(&id, "Hello").await;
    assert!(status < 300, "{body}");
    let hour = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = now_ms();
        let report = expect_status(
            200,
            admin
                .get(&format!(
                    "/api/v1/reports/summary?from={}&to={}&agent=alice",
                    hour(now - H),
                    hour(now + H)
                ))
                .await,
        );
        let total = &report["total"];
        let online = total["presence"]["online_s"].as_f64().unwrap_or(0.0);
        if online > 0.0 {
            assert_eq!(total["presence"]["away_s"], 0.0, "{report}");
            let occupancy = total["presence"]["occupancy"].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&occupancy), "{report}");
            // Support's calendar is always open: the same first response in business hours.
            assert_eq!(
                total["times_business_hours"]["first_response"]["count"], 1,
                "{report}"
            );
            assert_eq!(
                total["times_business_hours"]["first_response"]["mean_s"],
                total["times"]["first_response"]["mean_s"],
                "{report}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no presence sample within 30 s: {report}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

in_both_modes!(
    business_hours_transfers_in_and_presence_give_the_hand_computed_figures,
    the_sampler_and_the_actors_write_presence_and_business_hours,
    a_scripted_day_gives_the_hand_computed_figures,
    who_may_read_reports_and_bad_queries,
    a_live_conversation_is_counted_by_its_steps,
    a_goodbye_to_the_bot_is_resolved_by_the_bot,
);
