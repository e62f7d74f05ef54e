//! PLACEHOLDER: the Cloud API send client.
