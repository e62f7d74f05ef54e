//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>), made by the
//! `standardwebhooks` crate: `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`
//! under a `whsec_<base64>` secret; during a rotation both secrets sign, space-separated, so a
//! receiver holding either verifies.

use base64::Engine;
use rand::Rng;
use standardwebhooks::Webhook;

pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret.
const SECRET_BYTES: usize = 32;

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("invalid secret")]
    Secret,
    #[error("the body is not UTF-8")]
    Body,
}

/// The three headers of one attempt: `webhook-id`, `webhook-timestamp` (unix seconds) and
/// `webhook-signature` with one `v1,…` per secret.
pub fn headers(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], SignError> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let hook = Webhook::new(secret).map_err(|_| SignError::Secret)?;
        signatures.push(
            hook.sign(id, timestamp, body)
                .map_err(|_| SignError::Body)?,
        );
    }
    Ok([
        (standardwebhooks::HEADER_WEBHOOK_ID, id.to_owned()),
        (
            standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
            timestamp.to_string(),
        ),
        (
            standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
            signatures.join(" "),
        ),
    ])
}

/// Whether `secret` is one this gateway would accept as a signing key.
pub fn valid_secret(secret: &str) -> bool {
    secret.strip_prefix(SECRET_PREFIX).is_some_and(|key| {
        base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|k| k.len() >= 24)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published example.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_specification_s_example_signs_as_published() {
        let [id, timestamp, signature] = headers(&[SECRET], ID, TIMESTAMP, PAYLOAD).unwrap();
        assert_eq!(id, ("webhook-id", ID.to_owned()));
        assert_eq!(timestamp, ("webhook-timestamp", "1614265330".to_owned()));
        assert_eq!(signature, ("webhook-signature", SIGNATURE.to_owned()));
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_either_verifies() {
        let new = new_secret();
        let now = chrono::Utc::now().timestamp();
        let body = br#"{"type":"message.created"}"#;
        let signed = headers(&[new.as_str(), SECRET], "msg_1", now, body).unwrap();
        let signature = &signed[2].1;
        assert_eq!(signature.split(' ').count(), 2);
        assert!(signature.split(' ').all(|s| s.starts_with("v1,")));
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in &signed {
            map.insert(*name, value.parse().unwrap());
        }
        for secret in [new.as_str(), SECRET] {
            Webhook::new(secret).unwrap().verify(body, &map).unwrap();
        }
        let stranger = new_secret();
        assert!(Webhook::new(&stranger).unwrap().verify(body, &map).is_err());
        // A changed body verifies under neither.
        assert!(Webhook::new(SECRET).unwrap().verify(b"{}", &map).is_err());
    }

    #[test]
    fn new_secrets_are_random_whsec_keys() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(valid_secret(&a) && valid_secret(&b));
        assert!(valid_secret(SECRET));
        assert!(!valid_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert!(!valid_secret("whsec_not base64"));
        assert!(!valid_secret("whsec_c2hvcnQ="));
    }
}
