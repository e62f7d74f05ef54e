//! Reloading the bot flows and routing rules with SIGHUP, against the real gateway binary
//! with its configuration in a temporary directory: a conversation waits at a question, the
//! files change (a new greeting, the question gone), SIGHUP; new conversations get the new
//! greeting and the waiting one goes on from the start step. Then broken configurations (a
//! routing rule that is not CEL, a flow pointing at a missing step) and SIGHUP: refused with
//! the reason in the log, and the flows in effect keep working.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::process::{Node, ProcessConfig};
use serde_json::{Value, json};
use switchboard::fakes::graph::FakeGraph;

const WAIT: Duration = Duration::from_secs(15);

/// The support channel runs the bot `reload`, version `v` of it: a greeting and a start menu
/// naming the version; with `question`, the menu's first option asks the customer's name.
fn flows(v: &str, question: bool) -> Value {
    let mut options = vec![json!({"id": "info", "title": "Info", "goto": "info"})];
    let mut steps = json!({
        "main": {"type": "menu", "text": format!("Main menu {v}")},
        "info": {"type": "message", "text": format!("Info {v}")},
    });
    if question {
        options.insert(
            0,
            json!({"id": "name", "title": "Tell my name", "goto": "ask_name"}),
        );
        steps["ask_name"] = json!({
            "type": "question", "text": "What is your name?", "field": "name", "goto": "thanks"
        });
        steps["thanks"] = json!({"type": "message", "text": "Thanks {{ fields.name }}"});
    }
    steps["main"]["options"] = json!(options);
    json!({
        "channels": {"support": {"bot": "reload"}},
        "bots": {"reload": {
            "start": "main",
            "fallback": {"after": 5, "then": "menu"},
            "texts": {
                "greeting": format!("Hello from version {v}"),
                "not_understood": "Sorry?",
                "fallback": "Let's start over.",
                "error": "Oops.",
            },
            "steps": steps,
        }},
    })
}

struct Gateway {
    graph: Arc<FakeGraph>,
    config: ProcessConfig,
    database_url: String,
    node: Node,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start(extra: Value) -> Gateway {
        let graph = Arc::new(FakeGraph::start());
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
        let config = ProcessConfig::new(&graph.base_url(), &database_url, extra);
        let node = Node::start(&config, &[]);
        Gateway {
            graph,
            config,
            database_url,
            node,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Rewrite the files, then SIGHUP.
    fn reload_with(&self, extra: Value) {
        self.config
            .rewrite(&self.graph.base_url(), &self.database_url, extra);
        self.node.signal(libc::SIGHUP);
    }

    /// The customer `wa_id` writes `body`; returns the texts the bot sent back (waiting for
    /// `expect` of them).
    async fn say(&self, wa_id: &str, wamid: &str, body: &str, expect: usize) -> Vec<String> {
        let before = common::burst::texts(&self.graph, wa_id).len();
        let webhook = common::text_webhook(wa_id, wamid, body);
        assert_eq!(
            common::burst::post_signed(&self.http, &self.node.address, &webhook).await,
            Some(200)
        );
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let texts = common::burst::texts(&self.graph, wa_id);
            if texts.len() >= before + expect {
                // Anything more the step sends comes with it: give it a moment to show.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return common::burst::texts(&self.graph, wa_id)[before..].to_vec();
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{wa_id} got {:?} after {body:?}, expected {expect} more; log:\n{}",
                    &texts[before..],
                    self.node.log_lines("").join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait for the `n`th log line containing `needle`.
    fn logged(&self, needle: &str, n: usize) -> Vec<String> {
        let lines = self.node.wait_log(needle, n, WAIT);
        assert!(
            lines.len() >= n,
            "expected {n} log lines with {needle:?}; log:\n{}",
            self.node.log_lines("").join("\n")
        );
        lines
    }
}

#[actix_rt::test]
async fn sighup_swaps_the_flows_and_refuses_a_broken_configuration() {
    let gateway = Gateway::start(flows("one", true));
    let (ann, bea, cid) = ("15557000001", "15557000002", "15557000003");

    // Ann reaches the question of version one and waits there.
    let texts = gateway.say(ann, "wamid.a1", "hello", 2).await;
    assert_eq!(texts, vec!["Hello from version one", "Main menu one"]);
    let texts = gateway.say(ann, "wamid.a2", "1", 1).await;
    assert_eq!(texts, vec!["What is your name?"]);

    // Version two: a new greeting, and the question is gone.
    gateway.reload_with(flows("two", false));
    let reloaded = gateway.logged("configuration reloaded: new bot flows", 1);
    assert!(
        reloaded[0].contains(r#""flows":"changed reload""#),
        "{}",
        reloaded[0]
    );

    // Ann's answer belongs to a step that no longer exists: she goes on from the start step.
    let texts = gateway.say(ann, "wamid.a3", "Ann", 1).await;
    assert_eq!(texts, vec!["Main menu two"]);
    let restarted = gateway.logged("no longer in the reloaded flows", 1);
    assert!(restarted[0].contains("ask_name"), "{}", restarted[0]);
    assert!(restarted[0].contains("\"WARN\""), "{}", restarted[0]);
    let texts = gateway.say(ann, "wamid.a4", "1", 1).await;
    assert_eq!(texts, vec!["Info two"]);

    // A new conversation: the new greeting.
    let texts = gateway.say(bea, "wamid.b1", "hello", 2).await;
    assert_eq!(texts, vec!["Hello from version two", "Main menu two"]);

    // A routing rule that is not CEL: refused, with the reason; version two stays.
    let mut broken = flows("three", false);
    broken["routing"] = json!({"rules": [
        {"name": "broken rule", "when": "\"vip\" in (", "team": "support"}
    ]});
    gateway.reload_with(broken);
    let refused = gateway.logged("configuration reload refused", 1);
    assert!(
        refused[0].contains("broken rule") && refused[0].contains("CEL"),
        "{}",
        refused[0]
    );
    assert!(refused[0].contains("\"ERROR\""), "{}", refused[0]);
    let texts = gateway.say(cid, "wamid.c1", "hello", 2).await;
    assert_eq!(texts, vec!["Hello from version two", "Main menu two"]);

    // A flow pointing at a missing step: refused too; version two still answers.
    let mut broken = flows("four", false);
    broken["bots"]["reload"]["steps"]["info"]["goto"] = json!("nowhere");
    gateway.reload_with(broken);
    let refused = gateway.logged("configuration reload refused", 2);
    assert!(
        refused[1].contains("goto unknown step nowhere"),
        "{}",
        refused[1]
    );
    let texts = gateway.say(cid, "wamid.c2", "1", 1).await;
    assert_eq!(texts, vec!["Info two"]);

    // Still alive and reloadable: back to a valid version.
    gateway.reload_with(flows("five", false));
    gateway.logged("configuration reloaded: new bot flows", 2);
    let texts = gateway.say("15557000004", "wamid.d1", "hello", 2).await;
    assert_eq!(texts, vec!["Hello from version five", "Main menu five"]);
}
