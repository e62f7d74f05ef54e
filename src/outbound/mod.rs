//! PLACEHOLDER: per-number senders (rate limits, retries) are being written.
