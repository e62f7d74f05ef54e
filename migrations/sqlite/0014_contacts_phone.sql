-- A customer who proves a number (WhatsApp's wa_id, a Telegram contact of their own) joins the
-- contact already known by it: looked up by phone.
CREATE INDEX contacts_phone ON contacts (phone);
