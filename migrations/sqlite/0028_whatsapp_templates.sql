-- WhatsApp message templates, synced from Meta (`GET /{waba-id}/message_templates`) per channel
-- (each WhatsApp number syncs its business account's templates), and updated by the
-- `message_template_status_update` and `template_category_update` webhooks (docs/CAMPAIGNS.md).
CREATE TABLE whatsapp_templates (
    channel          TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    language         TEXT    NOT NULL,
    -- MARKETING, UTILITY or AUTHENTICATION: sends follow the latest one.
    category         TEXT    NOT NULL,
    -- APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ARCHIVED...
    status           TEXT    NOT NULL,
    components       TEXT    NOT NULL DEFAULT '[]',
    -- NAMED ({{first_name}}) or POSITIONAL ({{1}}).
    parameter_format TEXT    NOT NULL DEFAULT 'POSITIONAL',
    reason           TEXT,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (channel, id)
);
CREATE INDEX whatsapp_templates_name ON whatsapp_templates (channel, name, language);
