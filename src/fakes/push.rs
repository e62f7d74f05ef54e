//! A fake Web Push service (RFC 8030) for tests: a real HTTP server that plays the push
//! service of some browsers. [`FakePush::subscribe`] makes a subscription the way a browser
//! does (a fresh P-256 key pair and a 16-byte auth secret; the fake keeps the private half);
//! every push it receives is checked like a push service and a browser would:
//!
//! - `Authorization: vapid t=<jwt>, k=<key>` (RFC 8292): an ES256 JWT signed by `k`, whose
//!   `aud` is this service's origin, with an `exp` no more than 24 hours ahead and a `sub`
//!   (`mailto:` or `https:`);
//! - `TTL` present, `Content-Encoding: aes128gcm`, and a body that decrypts (RFC 8291) with the
//!   subscription's private key and auth secret.
//!
//! A push that passes is recorded ([`FakePush::received`]) and answered 201; one that fails is
//! answered 400/401/403 and its reason recorded ([`FakePush::rejected`]). A subscription can
//! be told to answer something else, such as 410 Gone ([`FakePush::answer_with`]).
//!
//! Endpoint: `POST /push/{subscription id}`. Crypto is the `ece` and `jwt-simple` crates'.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::{
    ECDSAP256PublicKeyLike, ES256PublicKey, NoCustomClaims, VerificationOptions,
};
use serde_json::{Value, json};

/// A subscription as a browser would hand it to the console.
#[derive(Clone, Debug)]
pub struct BrowserSubscription {
    pub id: String,
    pub endpoint: String,
    /// The browser's public key, base64url.
    pub p256dh: String,
    /// The auth secret, base64url.
    pub auth: String,
}

impl BrowserSubscription {
    /// `PushSubscription.toJSON()`.
    pub fn json(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        })
    }
}

/// A push that passed every check, decrypted.
#[derive(Clone, Debug)]
pub struct ReceivedPush {
    pub subscription: String,
    /// The decrypted body, as JSON when it is JSON (else a JSON string).
    pub payload: Value,
    pub ttl: u32,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    /// The JWT's claims.
    pub audience: String,
    pub subject: String,
    /// Seconds from receipt to the JWT's `exp`.
    pub expires_in_seconds: i64,
    /// The VAPID public key (`k`), base64url.
    pub vapid_key: String,
}

struct Subscription {
    private_key: Vec<u8>,
    public_key: Vec<u8>,
    auth: Vec<u8>,
    /// Answer every push with this status instead of checking it (e.g. 410).
    answer: Option<u16>,
    /// Answer this many of the next pushes with `failing.0`, then check them again.
    failing: (u16, u32),
}

#[derive(Default)]
struct State {
    subscriptions: BTreeMap<String, Subscription>,
    received: Vec<ReceivedPush>,
    rejected: Vec<String>,
    /// Pushes answered with a scripted status, by subscription.
    answered: Vec<(String, u16)>,
}

struct Shared {
    state: Mutex<State>,
    origin: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake push service. Stops its server (and joins its thread) when dropped.
pub struct FakePush {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakePush {
    /// Start on an ephemeral port of 127.0.0.1.
    pub fn start() -> io::Result<FakePush> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            origin: format!("http://{addr}"),
        });
        let data = web::Data::from(shared.clone());
        let (server, thread) = super::serve_on_thread("fake-push", listener, 1, move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(8192))
                .route("/push/{id}", web::post().to(receive));
        })?;
        Ok(FakePush {
            addr,
            shared,
            server: Some(server),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:{port}`: the origin a VAPID JWT must name.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new subscription, with keys generated as a browser would.
    pub fn subscribe(&self) -> Result<BrowserSubscription, ece::Error> {
        let (pair, auth) = ece::generate_keypair_and_auth_secret()?;
        let components = pair.raw_components()?;
        let id = uuid::Uuid::now_v7().simple().to_string();
        let subscription = BrowserSubscription {
            endpoint: format!("{}/push/{id}", self.origin()),
            p256dh: URL_SAFE_NO_PAD.encode(components.public_key()),
            auth: URL_SAFE_NO_PAD.encode(auth),
            id: id.clone(),
        };
        self.shared.lock().subscriptions.insert(
            id,
            Subscription {
                private_key: components.private_key().to_vec(),
                public_key: components.public_key().to_vec(),
                auth: auth.to_vec(),
                answer: None,
                failing: (0, 0),
            },
        );
        Ok(subscription)
    }

    /// From now on, answer every push to `subscription` with `status` (410: gone).
    pub fn answer_with(&self, subscription: &str, status: u16) {
        if let Some(s) = self.shared.lock().subscriptions.get_mut(subscription) {
            s.answer = Some(status);
        }
    }

    /// Answer the next `times` pushes to `subscription` with `status` (e.g. 503), then take
    /// them again: a push service failing for a moment.
    pub fn fail_next(&self, subscription: &str, status: u16, times: u32) {
        if let Some(s) = self.shared.lock().subscriptions.get_mut(subscription) {
            s.failing = (status, times);
        }
    }

    /// Pushes that passed every check, oldest first.
    pub fn received(&self) -> Vec<ReceivedPush> {
        self.shared.lock().received.clone()
    }

    /// Why pushes were refused, oldest first.
    pub fn rejected(&self) -> Vec<String> {
        self.shared.lock().rejected.clone()
    }

    /// Pushes answered with a scripted status: (subscription, status).
    pub fn answered(&self) -> Vec<(String, u16)> {
        self.shared.lock().answered.clone()
    }

    /// Wait until `done` holds for what was received (checking every 20 ms); false after
    /// `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedPush], &[(String, u16)]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            {
                let state = self.shared.lock();
                if done(&state.received, &state.answered) {
                    return true;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop the server and wait for its thread (also done on drop).
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakePush {
    fn drop(&mut self) {
        self.stop();
    }
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `vapid t=<jwt>, k=<key>` → (jwt, key).
pub fn parse_vapid(authorization: &str) -> Option<(String, String)> {
    let rest = authorization.strip_prefix("vapid ")?;
    let (mut t, mut k) = (None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name.trim() {
            "t" => t = Some(value.trim().to_string()),
            "k" => k = Some(value.trim().to_string()),
            _ => {}
        }
    }
    Some((t?, k?))
}

/// Check a push like a push service (VAPID) and a browser (decryption) would.
fn check(
    request: &HttpRequest,
    body: &[u8],
    subscription: &Subscription,
    origin: &str,
) -> Result<(ReceivedPush, u16), (u16, String)> {
    let authorization =
        header(request, "authorization").ok_or((401, "no Authorization".to_string()))?;
    let (jwt, key) =
        parse_vapid(authorization).ok_or((401, format!("not a vapid header: {authorization}")))?;
    let key_bytes = URL_SAFE_NO_PAD
        .decode(&key)
        .map_err(|_| (401, "k is not base64url".to_string()))?;
    let public = ES256PublicKey::from_bytes(&key_bytes)
        .map_err(|e| (401, format!("k is not a P-256 key: {e}")))?;
    let options = VerificationOptions {
        allowed_audiences: Some(HashSet::from([origin.to_string()])),
        ..Default::default()
    };
    let claims = public
        .verify_token::<NoCustomClaims>(&jwt, Some(options))
        .map_err(|e| (403, format!("JWT refused: {e}")))?;
    let now = jwt_simple::prelude::Clock::now_since_epoch();
    let exp = claims
        .expires_at
        .ok_or((403, "JWT without exp".to_string()))?;
    let expires_in = exp.as_secs() as i64 - now.as_secs() as i64;
    if expires_in > 24 * 3600 {
        return Err((
            403,
            format!("JWT exp {expires_in} s ahead (more than 24 h)"),
        ));
    }
    let subject = claims
        .subject
        .clone()
        .ok_or((403, "JWT without sub".to_string()))?;
    if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
        return Err((403, format!("JWT sub {subject} is not mailto: or https:")));
    }
    let ttl = header(request, "ttl")
        .and_then(|t| t.parse::<u32>().ok())
        .ok_or((400, "no TTL".to_string()))?;
    if header(request, "content-encoding") != Some("aes128gcm") {
        return Err((400, "Content-Encoding is not aes128gcm".to_string()));
    }
    let components = ece::EcKeyComponents::new(
        subscription.private_key.clone(),
        subscription.public_key.clone(),
    );
    let plain = ece::decrypt(&components, &subscription.auth, body)
        .map_err(|e| (400, format!("cannot decrypt: {e}")))?;
    let payload = serde_json::from_slice(&plain)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&plain).into_owned()));
    let audience = claims
        .audiences
        .map(|a| a.into_string().unwrap_or_default())
        .unwrap_or_default();
    Ok((
        ReceivedPush {
            subscription: String::new(),
            payload,
            ttl,
            urgency: header(request, "urgency").map(str::to_string),
            topic: header(request, "topic").map(str::to_string),
            audience,
            subject,
            expires_in_seconds: expires_in,
            vapid_key: key,
        },
        201,
    ))
}

async fn receive(
    shared: web::Data<Shared>,
    request: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let id = id.into_inner();
    let mut state = shared.lock();
    let Some(subscription) = state.subscriptions.get_mut(&id) else {
        state.rejected.push(format!("{id}: no such subscription"));
        return HttpResponse::NotFound().finish();
    };
    if subscription.failing.1 > 0 {
        subscription.failing.1 -= 1;
        let status = subscription.failing.0;
        state.answered.push((id, status));
        return HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::SERVICE_UNAVAILABLE),
        )
        .finish();
    }
    let Some(subscription) = state.subscriptions.get(&id) else {
        return HttpResponse::NotFound().finish();
    };
    if let Some(status) = subscription.answer {
        state.answered.push((id, status));
        return HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::GONE),
        )
        .finish();
    }
    match check(&request, &body, subscription, &shared.origin) {
        Ok((mut push, status)) => {
            push.subscription = id;
            state.received.push(push);
            HttpResponse::build(
                actix_web::http::StatusCode::from_u16(status)
                    .unwrap_or(actix_web::http::StatusCode::CREATED),
            )
            .finish()
        }
        Err((status, reason)) => {
            state.rejected.push(format!("{id}: {reason}"));
            HttpResponse::build(
                actix_web::http::StatusCode::from_u16(status)
                    .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
            )
            .body(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    /// RFC 8291, Appendix A: the published example decrypts with the same code the fake uses.
    #[test]
    fn rfc_8291_test_vector_decrypts() {
        let ua_private = hex("ab5757a70dd4a53e553a6bbf71ffefea2874ec07a6b379e3c48f895a02dc33de");
        let ua_public = hex(
            "042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479b86e3c8f8eced577ca59187e9246990db682008b0e",
        );
        let auth = hex("05305932a1c7eabe13b6cec9fda48882");
        let body = hex(
            "0c6bfaadad67958803092d454676f397000010004104fe33f4ab0dea71914db55823f73b54948f41306d920732dbb9a59a53286482200e597a7b7bc260ba1c227998580992e93973002f3012a28ae8f06bbb78e5ec0ff297de5b429bba7153d3a4ae0caa091fd425f3b4b5414add8ab37a19c1bbb05cf5cb5b2a2e0562d558635641ec52812c6c8ff42e95ccb86be7cd",
        );
        let components = ece::EcKeyComponents::new(ua_private, ua_public);
        let plain = ece::decrypt(&components, &auth, &body).expect("the RFC's example decrypts");
        assert_eq!(plain, b"When I grow up, I want to be a watermelon");
        // The same text in the RFC's base64url form of the body.
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body[..16]),
            "DGv6ra1nlYgDCS1FRnbzlw",
            "the salt of the RFC's example"
        );
    }

    #[test]
    fn vapid_header_parses() {
        assert_eq!(
            parse_vapid("vapid t=a.b.c, k=BAbc"),
            Some(("a.b.c".to_string(), "BAbc".to_string()))
        );
        assert_eq!(parse_vapid("WebPush a.b.c"), None);
        assert_eq!(parse_vapid("vapid t=a.b.c"), None);
    }
}
