-- Routing, assignment and the agents' console.
ALTER TABLE conversations ADD COLUMN assignee TEXT;
ALTER TABLE conversations ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
-- The router's decision and its trace (JSON), shown to agents.
ALTER TABLE conversations ADD COLUMN route TEXT;
ALTER TABLE conversations ADD COLUMN assigned_at INTEGER;
ALTER TABLE conversations ADD COLUMN first_response_at INTEGER;
ALTER TABLE conversations ADD COLUMN resolved_at INTEGER;
ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER;
CREATE INDEX conversations_status ON conversations (status, team, updated_at);
CREATE INDEX conversations_assignee ON conversations (assignee, updated_at) WHERE assignee IS NOT NULL;
CREATE INDEX conversations_customer ON conversations (customer, created_at);

-- The agent who wrote an outbound message or a private note.
ALTER TABLE messages ADD COLUMN author TEXT;

-- Assignment and status events of conversations: the raw material of reports.
CREATE TABLE conversation_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    agent           TEXT,
    team            TEXT,
    detail          TEXT,
    at              INTEGER NOT NULL
);
CREATE INDEX conversation_events_conversation ON conversation_events (conversation_id, id);

-- Each agent's console events, numbered per agent, kept (bounded) so a console that
-- reconnects with its last sequence receives everything it missed.
CREATE TABLE agent_events (
    agent      TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (agent, seq)
) WITHOUT ROWID;
