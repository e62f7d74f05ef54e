//! PLACEHOLDER: fake Graph API.
