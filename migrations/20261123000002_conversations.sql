-- Conversations and every message in them (shopper, bot, tool calls and results, staff), written
-- as they happen, so that a restart loses nothing.

CREATE TABLE conversations (
    conversation_id TEXT PRIMARY KEY,
    -- Where the shopper writes from (web, telegram, discord, terminal) and who they are there.
    channel TEXT NOT NULL,
    shopper TEXT NOT NULL,
    -- bot | waiting_for_staff | staff | closed
    state TEXT NOT NULL,
    -- The customer this conversation authenticated as (one per conversation).
    authenticated_user TEXT,
    -- The write the bot listed and awaits an explicit yes for (JSON tool call).
    pending_action TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_by_shopper ON conversations (channel, shopper, updated_at);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id),
    seq BIGINT NOT NULL,
    -- user | assistant | tool | staff | system
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    -- For an assistant's tool call: {"name", "arguments"} as JSON.
    tool_call TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
