//! [`super::Store::erase_contact`] on the PostgreSQL writer's connection (inside its
//! transaction).

use sqlx::postgres::PgConnection;

use super::postgres::{canonical, read_contact, text};
use super::{ContactIdentity, ERASED_BODY, ErasedContact, Erasure, StoreError};
use crate::domain::{ChannelId, ConversationKey, CustomerId};

/// Addresses shorter than this are not looked for inside raw payloads (too many false hits).
const PAYLOAD_ADDRESS_MIN: usize = 5;

async fn run(
    conn: &mut PgConnection,
    sql: &'static str,
    values: &[&str],
) -> Result<u64, StoreError> {
    let mut query = sqlx::query(sql);
    for v in values {
        query = query.bind(text(v).into_owned());
    }
    Ok(query.execute(&mut *conn).await?.rows_affected())
}

pub(super) async fn erase_contact(
    conn: &mut PgConnection,
    customer: &str,
    erased: &str,
) -> Result<Erasure, StoreError> {
    let contact = canonical(conn, customer).await?;
    // Locked until the transaction ends: a step writing the contact waits.
    if read_contact(conn, &contact).await?.is_none() {
        return Ok(Erasure::NoSuchContact);
    }
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT channel, address, first_seen FROM contact_identities WHERE customer = $1
         ORDER BY first_seen, channel, address",
    )
    .bind(text(&contact))
    .fetch_all(&mut *conn)
    .await?;
    let identities: Vec<ContactIdentity> = rows
        .into_iter()
        .map(|(channel, address, first_seen)| ContactIdentity {
            channel: ChannelId::new(channel),
            address,
            first_seen,
        })
        .collect();
    let mut addresses: Vec<String> = identities.iter().map(|i| i.address.clone()).collect();
    if !addresses.contains(&contact) {
        addresses.push(contact.clone());
    }
    // Locked: a step of one of them on another node conflicts rather than writes over.
    let conversations: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, key, channel, status FROM conversations WHERE customer = ANY($1)
         ORDER BY id FOR UPDATE",
    )
    .bind(&addresses)
    .fetch_all(&mut *conn)
    .await?;
    let open: Vec<String> = conversations
        .iter()
        .filter(|(_, _, _, status)| status != "resolved")
        .map(|(id, ..)| id.clone())
        .collect();
    if !open.is_empty() {
        return Ok(Erasure::Open(open));
    }
    let ids: Vec<String> = conversations.iter().map(|(id, ..)| id.clone()).collect();
    let mut keys: Vec<String> = conversations.iter().map(|(_, k, ..)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    let messages = sqlx::query(
        "UPDATE messages SET kind = 'erased', body = $1::json, provider_id = NULL,
            reply_to = NULL, error_reason = NULL
         WHERE conversation_id = ANY($2)",
    )
    .bind(ERASED_BODY)
    .bind(&ids)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT blob FROM media WHERE conversation_id = ANY($1) AND blob IS NOT NULL",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let media = sqlx::query("DELETE FROM media WHERE conversation_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    // A routing trace may quote the contact's variables.
    sqlx::query(
        "UPDATE conversation_events SET detail = NULL
         WHERE conversation_id = ANY($1) AND kind = 'routed'",
    )
    .bind(&ids)
    .execute(&mut *conn)
    .await?;
    for (id, _, channel, _) in &conversations {
        let new_key =
            ConversationKey::new(&ChannelId::new(channel), &CustomerId::new(erased)).to_string();
        run(
            conn,
            "UPDATE conversations SET customer = $1, key = $2, bot_state = '{}'::json,
                route = NULL, version = version + 1
             WHERE id = $3",
            &[erased, &new_key, id],
        )
        .await?;
        // The agents' console logs (bounded, pruned by age) hold message views.
        run(
            conn,
            "DELETE FROM agent_events WHERE strpos(payload::text, $1) > 0",
            &[id],
        )
        .await?;
    }
    for statement in [
        "DELETE FROM inbound_events WHERE processed AND conversation_key = ANY($1)",
        "DELETE FROM webhook_events WHERE conversation_key = ANY($1)",
        "DELETE FROM webhook_deliveries WHERE conversation_key = ANY($1)",
        "DELETE FROM console_outbox WHERE conversation_key = ANY($1)",
    ] {
        sqlx::query(statement)
            .bind(&keys)
            .execute(&mut *conn)
            .await?;
    }
    for address in &addresses {
        // Events of no conversation (statuses, account-level) that name the address.
        if address.chars().count() >= PAYLOAD_ADDRESS_MIN {
            run(
                conn,
                "DELETE FROM inbound_events WHERE processed AND strpos(payload::text, $1) > 0",
                &[&format!("\"{address}\"")],
            )
            .await?;
        }
        // Earlier audit entries about the contact keep who did what when, not the values.
        run(
            conn,
            "UPDATE audit_log SET target = $1, before_json = NULL, after_json = NULL
             WHERE target_kind = 'contact' AND target = $2",
            &[erased, address],
        )
        .await?;
    }
    sqlx::query("DELETE FROM webchat_visitors WHERE customer = ANY($1)")
        .bind(&addresses)
        .execute(&mut *conn)
        .await?;
    // Its BSUIDs, and what they named.
    sqlx::query("DELETE FROM customer_aliases WHERE customer = ANY($1) OR alias = ANY($1)")
        .bind(&addresses)
        .execute(&mut *conn)
        .await?;
    run(
        conn,
        "DELETE FROM contact_identities WHERE customer = $1",
        &[&contact],
    )
    .await?;
    run(
        conn,
        "DELETE FROM contacts WHERE customer = $1",
        &[&contact],
    )
    .await?;
    let still: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT blob FROM media WHERE blob = ANY($1)")
            .bind(&candidates)
            .fetch_all(&mut *conn)
            .await?;
    let blobs = candidates
        .into_iter()
        .filter(|b| !still.contains(b))
        .collect();
    Ok(Erasure::Erased(ErasedContact {
        identities,
        conversations: conversations.len() as u64,
        messages,
        media,
        blobs,
    }))
}
