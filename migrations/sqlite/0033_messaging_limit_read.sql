-- The business portfolio's messaging limit as Meta last gave it (the phone number's
-- `whatsapp_business_manager_messaging_limit`: TIER_250, TIER_2K, TIER_10K, TIER_100K,
-- TIER_UNLIMITED), read with each channel's template sync; the newest read is in effect when
-- `campaigns.messaging_limit` is `meta` (docs/CAMPAIGNS.md).
ALTER TABLE template_syncs ADD COLUMN messaging_limit TEXT;
ALTER TABLE template_syncs ADD COLUMN limit_read_at INTEGER;
