-- The country of a contact's phone number (`contact.country`: ISO 3166-1 alpha-2, NULL without a
-- valid international number), stored so segments count it in SQL. It is computed in Rust
-- (`crm::contact::country_of`, libphonenumber's metadata: +1 is told apart by the number) by
-- whatever writes the phone. Existing rows are filled at startup, in batches, by the store
-- (`store::country`), which walks the contacts after the cursor kept here and drops the row when
-- done.
ALTER TABLE contacts ADD COLUMN country TEXT;
CREATE INDEX contacts_country ON contacts (country);
CREATE TABLE contact_country_backfill (after TEXT NOT NULL);
INSERT INTO contact_country_backfill (after)
    SELECT '' WHERE EXISTS (SELECT 1 FROM contacts WHERE phone IS NOT NULL);
