//! PLACEHOLDER: the webhook parser.
