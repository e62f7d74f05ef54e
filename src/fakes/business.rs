//! PLACEHOLDER: fake business API.
