-- Fixes of a review.

-- The place of the bot's message that listed the write awaiting a yes: only the shopper's very
-- next message can confirm it (written in the same transaction as that listing).
ALTER TABLE conversations ADD COLUMN pending_listed_at BIGINT;

-- Each outbox message is tried on its own, with backoff: how often it was tried, why it last
-- failed, and when it was given up (it stays, shown to staff on its conversation).
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN failed_at BIGINT;

-- Sign-in throttling: failures counted per (account, client address) and per client address in
-- a window, reserved before the password is checked (a conditional increment, so that parallel
-- guesses cannot pass the limit). Rows older than the window are removed.
CREATE TABLE sign_in_throttle (
    throttle_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);

-- A reply of the bot records the place of the last message the model had seen when it wrote it:
-- a shopper's message stored after that place (sent while the reply was being made) is shown to
-- the model after the reply, in conversational order.
ALTER TABLE messages ADD COLUMN answers_through BIGINT;
