//! Contacts as the business knows them: one contact may have several identities (a WhatsApp
//! number, a Telegram chat, a Messenger PSID…). Pure rules here; storage behind
//! [`crate::store::Store`].
//!
//! - [`contact::ContactChanges`]: what one writer changed, field by field, so two writers of one
//!   contact (two conversations on two channels, a merge) never undo each other.
//! - [`contact::merged`]: two contacts folded into one.
//! - [`behaviour::ContactBehaviour`]: what a contact did (first seen, last message,
//!   conversations), for rules and segments.
//! - [`contact::phone_digits`]: the form phone numbers are compared in.
//! - [`edit::ContactPatch`]: a person's edit of a contact, checked, as field-level changes.
//! - [`fields`]: custom field definitions, and a typed field's value checked and normalised.
//! - [`export`]: contacts as CSV rows, safe to open in a spreadsheet.
//! - [`erase`]: a contact's erasure on request: its reason and the opaque id left behind.
//! - [`import`]: contacts from CSV rows, each naming its contact and its edit.
//! - [`upsert`]: which contact a business system's upsert names, and the one it creates.

pub mod behaviour;
pub mod contact;
pub mod edit;
pub mod erase;
pub mod export;
pub mod fields;
pub mod import;
pub mod segment;
pub mod segments;
pub mod upsert;
