-- A media's source is a provider media id (the row's id) or, for providers that give a link
-- instead (Messenger and Instagram attachments), that URL: downloaded from it, within the
-- allowed hosts (media.url_hosts). Rows of such media are named `message:<message id>`.
ALTER TABLE media ADD COLUMN source_url TEXT;
