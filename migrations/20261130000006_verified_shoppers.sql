-- Verified shoppers: signed identity from the store's site, app accounts linked by one-time code.

-- Identity tokens already used, by their `jti`, kept until they expire: a token starts one
-- conversation, and a replayed one is refused.
CREATE TABLE identity_tokens (
    token_id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- One-time codes that link an app account to a customer, by the code's SHA-256 (the code itself
-- is never stored). A code sent by email is bound to the app account that asked for it; one
-- issued through the API for the store's site is not (channel and shopper NULL).
CREATE TABLE link_codes (
    code_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    channel TEXT,
    shopper TEXT,
    expires_at BIGINT NOT NULL
);

-- Attempts are throttled as sign-ins are (asking for a code by email, trying a code): the table
-- now serves both.
ALTER TABLE sign_in_throttle RENAME TO attempt_throttle;

-- App accounts (a private chat) proven to be a customer's: their conversations start
-- authenticated as that customer.
CREATE TABLE app_links (
    channel TEXT NOT NULL,
    shopper TEXT NOT NULL,
    user_id TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (channel, shopper)
);
CREATE INDEX app_links_user ON app_links (user_id);
