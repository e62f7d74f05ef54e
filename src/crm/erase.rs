//! A contact's erasure on request (the right to erasure): the pure rules. What goes and what
//! stays is [`crate::store::Store::erase_contact`]'s; docs/CONSOLE_API.md, "Erasing a contact".

use crate::domain::{CustomerId, MessageId};

/// The longest reason accepted.
pub const REASON_MAX: usize = 500;

/// The reason an erasure is recorded with: required, trimmed, at most [`REASON_MAX`]
/// characters. The error says what is wrong.
pub fn reason(given: Option<&str>) -> Result<String, String> {
    match given.map(str::trim) {
        None | Some("") => Err("`reason` is required: say why the contact is erased (for \
                                example, the customer's request and its date)"
            .into()),
        Some(r) if r.chars().count() > REASON_MAX => {
            Err(format!("`reason` takes at most {REASON_MAX} characters"))
        }
        Some(r) => Ok(r.to_string()),
    }
}

/// The prefix of the opaque ids erased conversations keep instead of the customer's address.
pub const ERASED_PREFIX: &str = "erased-";

/// A new opaque customer id for an erased contact's conversations: random, so nothing derived
/// from the customer's number or address remains.
pub fn erased_id() -> CustomerId {
    CustomerId::new(format!("{ERASED_PREFIX}{}", MessageId::generate()))
}

/// Whether `customer` is an erased contact's opaque id.
pub fn is_erased(customer: &CustomerId) -> bool {
    customer.as_str().starts_with(ERASED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_required_trimmed_and_bounded() {
        assert!(reason(None).is_err());
        assert!(reason(Some("   ")).is_err());
        assert_eq!(
            reason(Some("  customer asked by email \n")).as_deref(),
            Ok("customer asked by email")
        );
        assert!(reason(Some(&"x".repeat(REASON_MAX))).is_ok());
        assert!(reason(Some(&"x".repeat(REASON_MAX + 1))).is_err());
    }

    #[test]
    fn erased_ids_are_opaque_and_new_each_time() {
        let (a, b) = (erased_id(), erased_id());
        assert_ne!(a, b);
        assert!(is_erased(&a));
        assert!(!a.as_str().chars().any(|c| c == '+'));
        assert!(!is_erased(&CustomerId::new("16505551234")));
    }
}
