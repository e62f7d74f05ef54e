-- Every conversation step finds the contact an address belongs to by the address alone
-- (`SELECT customer FROM contact_identities WHERE address = ?`): the primary key leads with
-- the channel, so without this index that was a scan of every identity.
CREATE INDEX contact_identities_address ON contact_identities (address);
