//! X (Twitter) direct messages: the Account Activity API webhook (its CRC challenge, its
//! signature, its payloads), the DM send client, and the ids they share.
//!
//! One channel is one X account (the business's), selected by the payload's `for_user_id`. A
//! customer is an X user, namespaced per account (`x:<account id>:<user id>`) so it never
//! collides with a WhatsApp number, a Telegram chat or another account's customer; a message is
//! a DM event, `xdm:<account id>:<event id>` (a redelivery repeats the event id).
//!
//! X signs with the app's consumer secret: the CRC answer is `sha256=` + base64 of
//! HMAC-SHA256(consumer secret, `crc_token`); every POST carries
//! `x-twitter-webhooks-signature: sha256=` + base64 of HMAC-SHA256(consumer secret, raw body).

pub mod attachments;
pub mod client;
pub mod oauth1;
pub mod webhook;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::channels::signature::SignatureError;
use crate::domain::{AccountId, CustomerId, ProviderMessageId};

/// The header X signs every webhook POST with.
pub const SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";

const CUSTOMER_PREFIX: &str = "x:";
const MESSAGE_PREFIX: &str = "xdm:";

/// The customer with X user id `user` of account `account`.
pub fn customer_id(account: &AccountId, user: &str) -> CustomerId {
    CustomerId::new(format!("{CUSTOMER_PREFIX}{account}:{user}"))
}

/// The X user id of a customer of this channel; `None` for anything else.
pub fn user_of(customer: &CustomerId) -> Option<&str> {
    let rest = customer.as_str().strip_prefix(CUSTOMER_PREFIX)?;
    let (_, user) = rest.split_once(':')?;
    (!user.is_empty() && user.bytes().all(|b| b.is_ascii_digit())).then_some(user)
}

/// DM event `event` of account `account`.
pub fn message_id(account: &AccountId, event: &str) -> ProviderMessageId {
    ProviderMessageId::new(format!("{MESSAGE_PREFIX}{account}:{event}"))
}

/// The DM event id of one of this channel's message ids; `None` for anything else.
pub fn event_of(id: &ProviderMessageId) -> Option<&str> {
    let rest = id.as_str().strip_prefix(MESSAGE_PREFIX)?;
    let (_, event) = rest.split_once(':')?;
    (!event.is_empty()).then_some(event)
}

/// The longest `crc_token` answered.
pub const CRC_TOKEN_MAX: usize = 1024;

/// Whether `token` can be one of X's CRC tokens (which look like base64 or UUIDs): 1 to
/// [`CRC_TOKEN_MAX`] characters of `A-Z a-z 0-9 + / = _ . ~ -`.
///
/// The same key signs CRC answers and deliveries, so answering any token would sign anything:
/// a `crc_token` holding a JSON body would return that body's valid signature. No JSON object
/// is made of these characters alone, so the CRC endpoint can never sign a delivery.
pub fn crc_token_is_plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= CRC_TOKEN_MAX
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_.~-".contains(&b))
}

/// HMAC-SHA256 under the consumer secret, base64 (standard, padded), as X computes it; keyed
/// once, cloned per use.
#[derive(Clone)]
pub struct XSigner {
    keyed: Hmac<Sha256>,
}

impl XSigner {
    /// HMAC accepts keys of any length, so this fails only if the hmac crate changes that.
    pub fn new(consumer_secret: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            keyed: Hmac::<Sha256>::new_from_slice(consumer_secret)?,
        })
    }

    /// `sha256=` + base64(HMAC-SHA256(secret, `data`)).
    pub fn sign(&self, data: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(data);
        format!(
            "sha256={}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    /// The CRC answer's `response_token` for `crc_token`.
    pub fn crc_response(&self, crc_token: &str) -> String {
        self.sign(crc_token.as_bytes())
    }

    /// Check `header` (the `x-twitter-webhooks-signature` value, if present) against `body`,
    /// in constant time.
    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let encoded = header
            .strip_prefix(b"sha256=")
            .ok_or(SignatureError::Malformed)?;
        let expected = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SignatureError::Malformed)?;
        if expected.len() != 32 {
            return Err(SignatureError::Malformed);
        }
        let mut mac = self.keyed.clone();
        mac.update(body);
        mac.verify_slice(&expected)
            .map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_other_channels() {
        let account = AccountId::new("1500000000000000001");
        let customer = customer_id(&account, "3001969357");
        assert_eq!(customer.as_str(), "x:1500000000000000001:3001969357");
        assert_eq!(user_of(&customer), Some("3001969357"));
        assert_eq!(user_of(&CustomerId::new("15550001111")), None);
        assert_eq!(user_of(&CustomerId::new("telegram:1:2")), None);
        assert_eq!(user_of(&CustomerId::new("x:1:")), None);
        assert_eq!(user_of(&CustomerId::new("x:1:../2")), None);

        let message = message_id(&account, "954491830116155396");
        assert_eq!(
            message.as_str(),
            "xdm:1500000000000000001:954491830116155396"
        );
        assert_eq!(event_of(&message), Some("954491830116155396"));
        assert_eq!(event_of(&ProviderMessageId::new("wamid.HBgL")), None);
        assert_ne!(
            message_id(&AccountId::new("2"), "954491830116155396"),
            message
        );
    }

    /// Independent vectors, computed with Python's standard library:
    ///
    /// ```text
    /// python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(
    ///     b"demo-x-consumer-secret", b"crc-token-123", hashlib.sha256).digest()).decode())'
    /// python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(
    ///     b"demo-x-consumer-secret", b"{\"for_user_id\":\"1500000000000000001\"}",
    ///     hashlib.sha256).digest()).decode())'
    /// ```
    #[test]
    fn crc_and_signature_match_python_s_hmac() {
        let signer = XSigner::new(b"demo-x-consumer-secret").expect("key");
        assert_eq!(
            signer.crc_response("crc-token-123"),
            "sha256=NiA9QjsXCg8u0VVU9rXdzaQ6ioUi4JVBdWEV5IIlq2E="
        );
        let body = br#"{"for_user_id":"1500000000000000001"}"#;
        let signature = signer.sign(body);
        assert_eq!(
            signature,
            "sha256=tMSp743/+grcDVso1Gqb9ut5HQpds7ELsVWCzsTMxhQ="
        );
        assert_eq!(signer.verify(Some(signature.as_bytes()), body), Ok(()));
    }

    #[test]
    fn only_tokens_that_can_be_x_s_are_answered_so_no_body_can_be_signed() {
        for token in [
            "crc-token-123",
            "ZmQ0OWU0ZjUtNmJlYy00ZjI4LWI3N2EtYTg1NjUyMmU5NWMx",
            "9b2b1d3e-2c8f-4f4e-8d4b-1a2b3c4d5e6f",
            "a+b/c=",
            &"a".repeat(CRC_TOKEN_MAX),
        ] {
            assert!(crc_token_is_plausible(token), "{token}");
        }
        for token in [
            "",
            r#"{"for_user_id":"1500000000000000001"}"#,
            " {}",
            "a b",
            "a\n",
            &"a".repeat(CRC_TOKEN_MAX + 1),
        ] {
            assert!(!crc_token_is_plausible(token), "{token}");
        }
    }

    #[test]
    fn wrong_missing_or_malformed_signatures_are_refused() {
        let signer = XSigner::new(b"secret").expect("key");
        let body = br#"{"for_user_id":"1"}"#;
        let good = signer.sign(body);
        assert_eq!(signer.verify(Some(good.as_bytes()), body), Ok(()));
        assert_eq!(
            signer.verify(Some(good.as_bytes()), b"{}"),
            Err(SignatureError::Mismatch)
        );
        let other = XSigner::new(b"other").expect("key").sign(body);
        assert_eq!(
            signer.verify(Some(other.as_bytes()), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(signer.verify(None, body), Err(SignatureError::Missing));
        // Meta's hex form is not X's.
        let hex = crate::channels::signature::SignatureVerifier::new(b"secret")
            .expect("key")
            .sign(body);
        assert_eq!(
            signer.verify(Some(hex.as_bytes()), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            signer.verify(Some(good.trim_start_matches("sha256=").as_bytes()), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            signer.verify(Some(b"sha256=AAAA"), body),
            Err(SignatureError::Malformed)
        );
    }
}
