//! [`super::Store::erase_contact`] on the SQLite writer's connection (inside its transaction).

use rusqlite::{Connection, OptionalExtension, params};

use super::sqlite_writer::{canonical, engine, read_contact};
use super::{ContactIdentity, ERASED_BODY, ErasedContact, Erasure, StoreError};
use crate::domain::{ChannelId, ConversationKey, CustomerId};

/// Addresses shorter than this are not looked for inside raw payloads (too many false hits).
const PAYLOAD_ADDRESS_MIN: usize = 5;

fn run(conn: &Connection, sql: &str, values: impl rusqlite::Params) -> Result<u64, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(values))
        .map(|n| n as u64)
        .map_err(engine)
}

pub(super) fn erase_contact(
    conn: &Connection,
    customer: &str,
    erased: &str,
) -> Result<Erasure, StoreError> {
    let contact = canonical(conn, customer).map_err(engine)?;
    if read_contact(conn, &contact)?.is_none() {
        return Ok(Erasure::NoSuchContact);
    }
    let identities: Vec<ContactIdentity> = conn
        .prepare_cached(
            "SELECT channel, address, first_seen FROM contact_identities WHERE customer = ?
             ORDER BY first_seen, channel, address",
        )
        .and_then(|mut s| {
            s.query_map(params![contact], |row| {
                Ok(ContactIdentity {
                    channel: ChannelId::new(row.get::<_, String>(0)?),
                    address: row.get(1)?,
                    first_seen: row.get(2)?,
                })
            })?
            .collect()
        })
        .map_err(engine)?;
    let mut addresses: Vec<String> = identities.iter().map(|i| i.address.clone()).collect();
    if !addresses.contains(&contact) {
        addresses.push(contact.clone());
    }
    // (id, key, channel, status) of every conversation of any of its addresses.
    let mut conversations: Vec<(String, String, String, String)> = Vec::new();
    for address in &addresses {
        let found: Vec<(String, String, String, String)> = conn
            .prepare_cached("SELECT id, key, channel, status FROM conversations WHERE customer = ?")
            .and_then(|mut s| {
                s.query_map(params![address], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect()
            })
            .map_err(engine)?;
        conversations.extend(found);
    }
    let open: Vec<String> = conversations
        .iter()
        .filter(|(_, _, _, status)| status != "resolved")
        .map(|(id, ..)| id.clone())
        .collect();
    if !open.is_empty() {
        return Ok(Erasure::Open(open));
    }
    let (mut messages, mut media) = (0, 0);
    let mut candidates: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for (id, key, channel, _) in &conversations {
        messages += run(
            conn,
            "UPDATE messages SET kind = 'erased', body = ?, provider_id = NULL, reply_to = NULL,
                error_reason = NULL
             WHERE conversation_id = ?",
            params![ERASED_BODY, id],
        )?;
        let blobs: Vec<String> = conn
            .prepare_cached(
                "SELECT DISTINCT blob FROM media WHERE conversation_id = ? AND blob IS NOT NULL",
            )
            .and_then(|mut s| s.query_map(params![id], |row| row.get(0))?.collect())
            .map_err(engine)?;
        candidates.extend(blobs);
        media += run(
            conn,
            "DELETE FROM media WHERE conversation_id = ?",
            params![id],
        )?;
        // A routing trace may quote the contact's variables.
        run(
            conn,
            "UPDATE conversation_events SET detail = NULL
             WHERE conversation_id = ? AND kind = 'routed'",
            params![id],
        )?;
        // The agents' console logs (bounded, pruned by age) hold message views.
        run(
            conn,
            "DELETE FROM agent_events WHERE instr(payload, ?) > 0",
            params![id],
        )?;
        let new_key =
            ConversationKey::new(&ChannelId::new(channel), &CustomerId::new(erased)).to_string();
        run(
            conn,
            "UPDATE conversations SET customer = ?, key = ?, bot_state = '{}', route = NULL,
                version = version + 1
             WHERE id = ?",
            params![erased, new_key, id],
        )?;
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    for key in &keys {
        run(
            conn,
            "DELETE FROM inbound_events WHERE processed = 1 AND conversation_key = ?",
            params![key],
        )?;
        run(
            conn,
            "DELETE FROM webhook_events WHERE conversation_key = ?",
            params![key],
        )?;
        run(
            conn,
            "DELETE FROM webhook_deliveries WHERE conversation_key = ?",
            params![key],
        )?;
        run(
            conn,
            "DELETE FROM console_outbox WHERE conversation_key = ?",
            params![key],
        )?;
    }
    for address in &addresses {
        // Events of no conversation (statuses, account-level) that name the address.
        if address.chars().count() >= PAYLOAD_ADDRESS_MIN {
            run(
                conn,
                "DELETE FROM inbound_events WHERE processed = 1 AND instr(payload, ?) > 0",
                params![format!("\"{address}\"")],
            )?;
        }
        run(
            conn,
            "DELETE FROM webchat_visitors WHERE customer = ?",
            params![address],
        )?;
        // Its BSUIDs, and what they named.
        run(
            conn,
            "DELETE FROM customer_aliases WHERE customer = ?1 OR alias = ?1",
            params![address],
        )?;
        // Earlier audit entries about the contact keep who did what when, not the values.
        run(
            conn,
            "UPDATE audit_log SET target = ?, before_json = NULL, after_json = NULL
             WHERE target_kind = 'contact' AND target = ?",
            params![erased, address],
        )?;
    }
    run(
        conn,
        "DELETE FROM contact_identities WHERE customer = ?",
        params![contact],
    )?;
    run(
        conn,
        "DELETE FROM contacts WHERE customer = ?",
        params![contact],
    )?;
    candidates.sort();
    candidates.dedup();
    let mut blobs = Vec::new();
    for blob in candidates {
        let still: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM media WHERE blob = ? LIMIT 1")
            .and_then(|mut s| s.query_row(params![blob], |row| row.get(0)).optional())
            .map_err(engine)?;
        if still.is_none() {
            blobs.push(blob);
        }
    }
    Ok(Erasure::Erased(ErasedContact {
        identities,
        conversations: conversations.len() as u64,
        messages,
        media,
        blobs,
    }))
}
