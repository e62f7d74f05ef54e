//! A business system's upsert of a contact (`PUT /api/v1/contacts`), pure: which contact the
//! body names, and the contact to create when none is known there.
//!
//! `{"match": {…}, "set": {…}}`: `match` names the contact by exactly one of
//! - `phone`: a number (`+34 600 400 001`, digits compared as the channels store them); a
//!   contact with that id, that address or that phone is updated, else one is created with the
//!   number as its id (the customer's first WhatsApp conversation then finds it);
//! - `identity`: `{"channel", "address"}`, the customer's address on a configured channel (a
//!   Telegram chat id, a Messenger PSID…); created with the address as its id when unknown;
//! - `email`: updates the one contact with that email; it creates nothing (an email is no
//!   address a conversation arrives from): 404 when none has it, 409 when several do.
//!
//! `set` is a [`ContactPatch`] (`name`, `email`, `language`, `location`, `tags`, `fields`),
//! checked like a person's edit.

use serde::Deserialize;

use super::edit::{ContactPatch, EMAIL_MAX, email_ok};
use crate::domain::CustomerId;
use crate::store::ContactRecord;

/// The longest identity address accepted.
pub const ADDRESS_MAX: usize = 512;

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertBody {
    #[serde(rename = "match")]
    pub by: MatchBody,
    #[serde(default)]
    pub set: ContactPatch,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub identity: Option<IdentityBody>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    pub channel: String,
    pub address: String,
}

/// The contact a body names, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// The number's digits.
    Phone(String),
    /// Lower-cased.
    Email(String),
    Identity {
        channel: String,
        address: String,
    },
}

impl MatchBody {
    /// Exactly one of `phone`, `email`, `identity`, well formed; else why not (a 400).
    pub fn parse(&self) -> Result<Match, String> {
        let given = [
            self.phone.is_some(),
            self.email.is_some(),
            self.identity.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(
                "`match` names the contact by exactly one of `phone`, `email`, \
                        `identity`"
                    .into(),
            );
        }
        if let Some(phone) = &self.phone {
            return super::contact::phone_digits(phone.trim())
                .map(Match::Phone)
                .ok_or_else(|| {
                    "`match.phone`: a phone number of 7 to 15 digits, like +34 600 400 001".into()
                });
        }
        if let Some(email) = &self.email {
            let email = email.trim().to_lowercase();
            if email.len() > EMAIL_MAX || !email_ok(&email) {
                return Err("`match.email`: an email address like name@example.com".into());
            }
            return Ok(Match::Email(email));
        }
        let Some(identity) = &self.identity else {
            return Err("`match` is empty".into());
        };
        let (channel, address) = (identity.channel.trim(), identity.address.trim());
        if channel.is_empty() || address.is_empty() {
            return Err("`match.identity` needs a `channel` and an `address`".into());
        }
        if address.chars().count() > ADDRESS_MAX || address.chars().any(char::is_control) {
            return Err(format!(
                "`match.identity.address`: at most {ADDRESS_MAX} printable characters"
            ));
        }
        Ok(Match::Identity {
            channel: channel.to_owned(),
            address: address.to_owned(),
        })
    }
}

impl Match {
    /// The id the contact is looked up under (its id or an address), when the match has one.
    pub fn lookup(&self) -> Option<CustomerId> {
        match self {
            Match::Phone(digits) => Some(CustomerId::new(digits.clone())),
            Match::Identity { address, .. } => Some(CustomerId::new(address.clone())),
            Match::Email(_) => None,
        }
    }

    /// The contact created when none is known: the number or the address as its id (and a
    /// number as its phone); `None` for an email (nothing is created from one).
    pub fn seed(&self) -> Option<ContactRecord> {
        let (customer, phone) = match self {
            Match::Phone(digits) => (digits.clone(), Some(digits.clone())),
            Match::Identity { address, .. } => (address.clone(), None),
            Match::Email(_) => return None,
        };
        Some(ContactRecord {
            customer: CustomerId::new(customer),
            name: None,
            phone,
            language: None,
            fields: Default::default(),
            tags: Vec::new(),
        })
    }

    /// Whether `contact` is the one an email or phone match names (a text search finds
    /// candidates; this is the exact comparison).
    pub fn is(&self, contact: &ContactRecord) -> bool {
        match self {
            Match::Email(email) => contact
                .fields
                .get(super::edit::EMAIL_FIELD)
                .is_some_and(|e| e.trim().to_lowercase() == *email),
            Match::Phone(digits) => {
                contact.customer.as_str() == digits
                    || contact
                        .phone
                        .as_deref()
                        .and_then(super::contact::phone_digits)
                        .is_some_and(|p| p == *digits)
            }
            Match::Identity { address, .. } => contact.customer.as_str() == address,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: serde_json::Value) -> Result<Match, String> {
        serde_json::from_value::<MatchBody>(body)
            .map_err(|e| e.to_string())?
            .parse()
    }

    #[test]
    fn exactly_one_way_of_naming_a_contact() {
        assert_eq!(
            parse(json!({"phone": "+34 600-400-001"})),
            Ok(Match::Phone("34600400001".into()))
        );
        assert_eq!(
            parse(json!({"email": " Vera@Example.com "})),
            Ok(Match::Email("vera@example.com".into()))
        );
        assert_eq!(
            parse(json!({"identity": {"channel": "telegram", "address": " 4242 "}})),
            Ok(Match::Identity {
                channel: "telegram".into(),
                address: "4242".into()
            })
        );
        for bad in [
            json!({}),
            json!({"phone": "34600400001", "email": "a@example.com"}),
            json!({"phone": "not a number"}),
            json!({"phone": "123"}),
            json!({"email": "nobody"}),
            json!({"identity": {"channel": "", "address": "1"}}),
            json!({"identity": {"channel": "telegram", "address": "a\u{0}b"}}),
            json!({"identity": {"channel": "telegram", "address": "x".repeat(ADDRESS_MAX + 1)}}),
            json!({"wa_id": "34600400001"}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_number_or_an_address_seeds_a_contact_an_email_does_not() {
        let phone = Match::Phone("34600400001".into());
        let seed = phone.seed().expect("a seed");
        assert_eq!(seed.customer.as_str(), "34600400001");
        assert_eq!(seed.phone.as_deref(), Some("34600400001"));
        assert!(phone.is(&seed));
        let identity = Match::Identity {
            channel: "telegram".into(),
            address: "4242".into(),
        };
        assert_eq!(identity.seed().map(|s| s.phone), Some(None));
        assert_eq!(Match::Email("a@example.com".into()).seed(), None);
        assert_eq!(Match::Email("a@example.com".into()).lookup(), None);
    }

    #[test]
    fn an_email_or_phone_matches_exactly() {
        let mut contact = Match::Identity {
            channel: "telegram".into(),
            address: "4242".into(),
        }
        .seed()
        .expect("a seed");
        contact.phone = Some("+34 600 400 001".into());
        contact
            .fields
            .insert("email".into(), "Vera@example.com".into());
        assert!(Match::Email("vera@example.com".into()).is(&contact));
        assert!(!Match::Email("era@example.com".into()).is(&contact));
        assert!(Match::Phone("34600400001".into()).is(&contact));
        assert!(!Match::Phone("3460040000".into()).is(&contact));
    }
}
