//! Executes the bot's [`HttpRequestSpec`]s: the only impure piece of the bot.

use std::time::Duration;

use super::{BotError, HttpRequestSpec, HttpResult};

/// Sends a bot's HTTP action and reduces the outcome to an [`HttpResult`].
#[derive(Clone, Debug)]
pub struct HttpExecutor {
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpExecutor {
    /// `timeout` bounds the whole exchange (connect, send, read the body).
    pub fn new(timeout: Duration) -> Result<Self, BotError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BotError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self { client, timeout })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Send the request (JSON body when present). A response of any status is a
    /// [`HttpResult::Response`], its body parsed as JSON or kept as a string (`Null` when
    /// empty); no response (timeout, connection error, bad URL or method) is
    /// [`HttpResult::Failed`].
    pub async fn execute(&self, spec: &HttpRequestSpec) -> HttpResult {
        let method = match reqwest::Method::from_bytes(spec.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return HttpResult::Failed {
                    reason: format!("invalid method {:?}", spec.method),
                };
            }
        };
        let mut request = self
            .client
            .request(method, &spec.url)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &spec.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &spec.body {
            request = request.json(body);
        }
        let outcome = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes))
        }
        .await;
        match outcome {
            Ok((status, bytes)) => {
                let body = if bytes.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
                    })
                };
                HttpResult::Response { status, body }
            }
            Err(e) if e.is_timeout() => HttpResult::Failed {
                reason: format!("timeout after {} ms", self.timeout.as_millis()),
            },
            Err(e) => HttpResult::Failed {
                reason: error_chain(&e),
            },
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::business::FakeBusiness;

    async fn serve(fake: &FakeBusiness) -> (String, actix_web::dev::ServerHandle) {
        let service = fake.clone();
        let server =
            actix_web::HttpServer::new(move || actix_web::App::new().service(service.service()))
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        (format!("http://{addr}/business"), handle)
    }

    fn get(url: String) -> HttpRequestSpec {
        HttpRequestSpec {
            method: "GET".into(),
            url,
            headers: vec![("X-Demo".into(), "1".into())],
            body: None,
        }
    }

    #[actix_web::test]
    async fn executes_against_the_fake_business_api() {
        let fake = FakeBusiness::default();
        let (base, handle) = serve(&fake).await;
        let executor = HttpExecutor::new(Duration::from_millis(2000)).unwrap();

        let found = executor.execute(&get(format!("{base}/orders/A1234"))).await;
        let HttpResult::Response { status: 200, body } = found else {
            panic!("unexpected {found:?}");
        };
        assert_eq!(body["status"], "shipped");
        assert_eq!(body["eta"], "2026-12-01");

        let missing = executor.execute(&get(format!("{base}/orders/ZZZZ"))).await;
        assert_eq!(
            missing,
            HttpResult::Response {
                status: 404,
                body: serde_json::json!({"error": "not found"})
            }
        );

        let booked = executor
            .execute(&HttpRequestSpec {
                method: "POST".into(),
                url: format!("{base}/appointments"),
                headers: vec![],
                body: Some(
                    serde_json::json!({"name": "Ana", "date": "2026-12-01", "phone": "34600"}),
                ),
            })
            .await;
        let HttpResult::Response { status: 201, body } = booked else {
            panic!("unexpected {booked:?}");
        };
        assert_eq!(body["id"], "APT-1");
        assert_eq!(body["date"], "2026-12-01");

        let requests = fake.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/business/orders/A1234");
        assert_eq!(requests[2].body.as_ref().unwrap()["name"], "Ana");

        let bad_method = executor
            .execute(&HttpRequestSpec {
                method: "G ET".into(),
                ..get(format!("{base}/orders/A1234"))
            })
            .await;
        assert!(matches!(bad_method, HttpResult::Failed { .. }));

        // Nothing listens on port 9 (discard) on loopback: a connection failure.
        let refused = executor.execute(&get("http://127.0.0.1:9/x".into())).await;
        assert!(matches!(refused, HttpResult::Failed { .. }));

        fake.set_delay(Duration::from_millis(1500));
        let quick = HttpExecutor::new(Duration::from_millis(200)).unwrap();
        let slow = quick.execute(&get(format!("{base}/orders/A1234"))).await;
        match slow {
            HttpResult::Failed { reason } => assert!(reason.contains("timeout"), "{reason}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        handle.stop(false).await;
    }
}
