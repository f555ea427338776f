-- Messaging channels (Telegram, Discord) and the staff console.

-- Every update a channel delivered, recorded in the same transaction as the shopper's message it
-- carried: a redelivered update finds its key here and gets no second reply.
CREATE TABLE channel_updates (
    channel TEXT NOT NULL,
    update_key TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id),
    seq BIGINT NOT NULL,
    PRIMARY KEY (channel, update_key)
);

-- Where a channel's polling stands (Telegram's getUpdates offset), so that it survives a restart.
CREATE TABLE channel_cursors (
    channel TEXT PRIMARY KEY,
    position TEXT NOT NULL
);

-- Messages that must be pushed to the shopper's app outside a turn (a reply of staff, the notice
-- that the bot is back). A channel's worker claims a row (`claimed_until`, a lease in Unix
-- milliseconds, so that of several clerk instances one sends it), sends it, then deletes it.
CREATE TABLE outbox (
    conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id),
    seq BIGINT NOT NULL,
    channel TEXT NOT NULL,
    claimed_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX outbox_by_channel ON outbox (channel, created_at);

-- People who sign in to the console: `staff` answer shoppers; `merchant` also may use merchant mode.
CREATE TABLE staff_accounts (
    username TEXT PRIMARY KEY,
    -- argon2id, as a PHC string.
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Signed-in sessions. Only a SHA-256 of the token is kept, so a copy of the database signs no
-- one in. Each has its own CSRF token, sent back on every state-changing request.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES staff_accounts (username),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Every action of staff, in order: sign-in, take, reply, hand back, close.
CREATE TABLE staff_actions (
    action_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    action TEXT NOT NULL,
    conversation_id TEXT,
    detail TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX staff_actions_by_time ON staff_actions (at);
