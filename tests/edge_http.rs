//! The console API and webhooks as a browser, a guesser and a careless client meet them:
//! failed-authentication limits (429 + Retry-After, per address and per credential), tokens in
//! query strings only on the websocket handshake, the websocket's Origin check, CORS
//! preflights, and the headers every answer carries. Both modes.

mod common;

use common::console::*;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const LISTED_ORIGIN: &str = "https://console.example.com";

/// The demo with small limits, the loopback as a trusted proxy (so tests speak for several
/// clients through `X-Forwarded-For`) and one listed origin.
async fn app() -> TestApp {
    spawn_console_app(|s| {
        s.security.auth_failures_per_address = 5;
        s.security.auth_failures_per_credential = 3;
        s.security.auth_failure_window_seconds = 120;
        s.security.allowed_origins = vec![LISTED_ORIGIN.to_string()];
        s.server.trusted_proxies = vec!["127.0.0.1".parse().expect("an address")];
    })
    .await
}

async fn me_as(app: &TestApp, client: &str, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/v1/me", app.address))
        .header("x-forwarded-for", client)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /api/v1/me")
}

async fn error_code(response: reqwest::Response) -> (StatusCode, Option<String>, String) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    (status, retry_after, code)
}

async fn guessing_tokens_is_limited_per_address_and_per_token() {
    let app = app().await;
    let guesser = "203.0.113.7";
    for n in 0..5 {
        let (status, _, code) = error_code(me_as(&app, guesser, &format!("guess-{n}")).await).await;
        assert_eq!((status.as_u16(), code.as_str()), (401, "unauthorized"));
    }
    // Past the limit, even the right token is refused from that address: a guess cannot be
    // confirmed.
    let (status, retry_after, code) = error_code(me_as(&app, guesser, ALICE).await).await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "too_many_requests"));
    let retry_after: u64 = retry_after
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    // Alice, from her own address, is not slowed at all.
    let me = me_as(&app, "198.51.100.20", ALICE).await;
    assert_eq!(me.status(), 200);

    // One wrong token tried from several addresses: limited by the token.
    let leaked = "alice-demo-token-old";
    for n in 0..3 {
        let client = format!("192.0.2.{n}");
        assert_eq!(me_as(&app, &client, leaked).await.status(), 401);
    }
    let (status, _, _) = error_code(me_as(&app, "192.0.2.99", leaked).await).await;
    assert_eq!(status.as_u16(), 429);
    assert_eq!(me_as(&app, "192.0.2.99", BOB).await.status(), 200);

    // The webhook verify token counts the same way (403 while guessing, then 429).
    for n in 0..5 {
        let response = app
            .client
            .get(format!(
                "{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=guess{n}&hub.challenge=1",
                app.address
            ))
            .header("x-forwarded-for", "203.0.113.50")
            .send()
            .await
            .expect("GET verify");
        assert_eq!(response.status(), 403);
    }
    let response = app
        .client
        .get(format!(
            "{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1",
            app.address
        ))
        .header("x-forwarded-for", "203.0.113.50")
        .send()
        .await
        .expect("GET verify");
    assert_eq!(response.status(), 429);

    let metrics = app.metrics().await;
    assert!(
        metric_value(
            &metrics,
            "switchboard_auth_failures_total",
            &[("kind", "console_token")]
        )
        .is_some_and(|v| v >= 8.0),
        "{metrics}"
    );
    assert!(
        metric_value(
            &metrics,
            "switchboard_auth_throttled_total",
            &[("scope", "address")]
        )
        .is_some_and(|v| v >= 2.0),
        "{metrics}"
    );
    assert!(
        metric_value(
            &metrics,
            "switchboard_auth_throttled_total",
            &[("scope", "credential")]
        )
        .is_some_and(|v| v >= 1.0),
        "{metrics}"
    );
}

async fn a_token_in_the_query_string_opens_only_the_websocket() {
    let app = app().await;
    let response = app
        .client
        .get(format!("{}/api/v1/me?access_token={ALICE}", app.address))
        .send()
        .await
        .expect("GET /api/v1/me");
    let (status, _, code) = error_code(response).await;
    assert_eq!((status.as_u16(), code.as_str()), (401, "unauthorized"));
    let socket = ConsoleSocket::connect_with_query_token(&app, ALICE, None).await;
    assert_eq!(socket.agent, "alice");
}

/// The websocket handshake as a browser page of `origin` makes it; the HTTP status.
async fn open_socket_from(app: &TestApp, origin: &str) -> u16 {
    let url = format!(
        "{}/api/v1/ws?access_token={ALICE}",
        app.address.replacen("http://", "ws://", 1)
    );
    let mut request = url.as_str().into_client_request().expect("websocket url");
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(origin).expect("origin"));
    match tokio_tungstenite::connect_async(request).await {
        Ok((_stream, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("websocket from {origin}: {e}"),
    }
}

async fn the_websocket_and_cors_trust_only_the_own_and_listed_origins() {
    let app = app().await;
    let own = app.address.clone();
    assert_eq!(open_socket_from(&app, &own).await, 101, "own origin");
    assert_eq!(open_socket_from(&app, LISTED_ORIGIN).await, 101, "listed");
    assert_eq!(open_socket_from(&app, "https://evil.example").await, 403);
    assert_eq!(open_socket_from(&app, "null").await, 403);

    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/conversations/c1/messages", app.address),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight(LISTED_ORIGIN).await.expect("preflight");
    assert_eq!(allowed.status(), 200);
    let headers = allowed.headers();
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(LISTED_ORIGIN)
    );
    let allow_headers = headers
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(allow_headers.contains("authorization"), "{allow_headers}");
    let refused = preflight("https://evil.example").await.expect("preflight");
    assert_ne!(refused.status(), 200);
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // A listed origin's real request is told it may read the answer; another's is not.
    for (origin, readable) in [(LISTED_ORIGIN, true), ("https://evil.example", false)] {
        let response = app
            .client
            .get(format!("{}/api/v1/me", app.address))
            .header("origin", origin)
            .bearer_auth(ALICE)
            .send()
            .await
            .expect("GET /api/v1/me");
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_some(),
            readable,
            "{origin}"
        );
    }
}

async fn every_answer_carries_the_safety_headers_and_the_api_is_never_cached() {
    let app = app().await;
    let console = Console::new(&app, ALICE);
    let _ = console.me().await;
    for (path, token) in [
        ("/api/v1/me", Some(ALICE)),
        ("/api/v1/me", None),
        ("/api/v1/conversations", Some(ALICE)),
        ("/healthz", None),
        ("/no-such-page", None),
    ] {
        let mut request = app.client.get(format!("{}{path}", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("GET");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{path}"
        );
        if path.starts_with("/api/") {
            assert_eq!(
                header("cache-control").as_deref(),
                Some("no-store"),
                "{path}"
            );
        }
    }
}

in_both_modes!(
    guessing_tokens_is_limited_per_address_and_per_token,
    a_token_in_the_query_string_opens_only_the_websocket,
    the_websocket_and_cors_trust_only_the_own_and_listed_origins,
    every_answer_carries_the_safety_headers_and_the_api_is_never_cached,
);
