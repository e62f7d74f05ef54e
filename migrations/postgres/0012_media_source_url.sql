-- See the SQLite store's 0013_media_source_url.sql: a media downloaded from a provider's link.
ALTER TABLE media ADD COLUMN source_url TEXT;
