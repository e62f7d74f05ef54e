//! People changes in a cluster: made through one node, they take effect on every node's
//! assignments at once (the assignment state is shared and configured by the same atomic
//! scripts), and every node's directory (logins, permissions) follows within a second.

mod common;

use common::cluster::TestCluster;
use common::console::*;
use serde_json::json;

#[actix_rt::test]
async fn a_change_made_through_one_node_takes_effect_on_the_others_at_once() {
    let cluster = TestCluster::start(2, |_| {}).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let admin = Console::login(a, "admin@example.com", DEMO_PASSWORD).await;

    // Dana is created through node A and logs in through node B (the directory converges).
    expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/users",
                json!({
                    "id": "dana",
                    "name": "Dana Diaz",
                    "email": "dana@example.com",
                    "password": "dana-password-1",
                    "teams": ["billing"],
                    "capacity": 1,
                }),
            )
            .await,
    );
    let deadline = tokio::time::Instant::now() + AT_ONCE;
    let dana = loop {
        let (status, body) = Console::anonymous(b)
            .post(
                "/api/v1/auth/login",
                json!({ "email": "dana@example.com", "password": "dana-password-1" }),
            )
            .await;
        if status == 200 {
            let token = body["token"].as_str().expect("token").to_string();
            break Console::at(&b.address, &token);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never learned of Dana: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    dana.set_presence("online").await;

    // A billing customer arriving through node B goes to Dana (Bob, billing too, is offline).
    let first = hand_off(b, "34600000101", "billing").await;
    let c = dana.wait_status(&first, "assigned", AT_ONCE).await;
    assert_eq!(c["assignee"], "dana");

    // Capacity raised through node A: the next billing customer, through node B, goes to her at
    // once (no restart, no wait).
    let second = hand_off(b, "34600000102", "billing").await;
    dana.wait_status(&second, "waiting", AT_ONCE).await;
    expect_status(
        200,
        admin
            .patch("/api/v1/admin/users/dana", json!({ "capacity": 2 }))
            .await,
    );
    dana.wait_status(&second, "assigned", AT_ONCE).await;

    // Deactivated through node A: her conversations go back to billing and to Bob, who is
    // online on node B.
    let bob = Console::at(&b.address, BOB);
    bob.set_presence("online").await;
    expect_status(204, admin.delete("/api/v1/admin/users/dana").await);
    for id in [&first, &second] {
        bob.wait_conversation(id, "assigned to bob", AT_ONCE, |d| {
            d["conversation"]["status"] == "assigned" && d["conversation"]["assignee"] == "bob"
        })
        .await;
    }
    // Her session ends on node B too, within a second or two (node B's directory and its
    // short memory of tokens both follow).
    let deadline = tokio::time::Instant::now() + AT_ONCE;
    loop {
        let (status, _) = dana.get("/api/v1/me").await;
        if status == 401 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B still lets Dana in"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
