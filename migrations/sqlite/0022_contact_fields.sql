-- Custom contact field definitions (admins define a key's label and type; every write of a
-- contact checks its values against them). Part of the directory: every change bumps
-- directory_version in the same transaction, so every node picks it up with the people.
CREATE TABLE contact_fields (
    key         TEXT PRIMARY KEY,
    label       TEXT    NOT NULL,
    -- text | number | date | boolean | choice
    kind        TEXT    NOT NULL,
    -- A choice's options, a JSON array of strings ('[]' for the other types).
    options     TEXT    NOT NULL DEFAULT '[]',
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
