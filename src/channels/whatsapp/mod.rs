//! WhatsApp Cloud API channel: webhook parsing and the send client.
