-- The risk score of each write a shopper asked the agent for (cancel, return, exchange, an
-- address or payment change): the score in thousandths, its reasons (a JSON array of sentences),
-- the signals it was computed from (a JSON array of numbers, null where unknown), whether the
-- gate held it for staff, and the outcome a merchant or staff member labelled afterwards
-- ('fraud' or 'legit'), which the supervised model learns from.
CREATE TABLE risk_assessments (
    assessment_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    order_id TEXT,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    score BIGINT NOT NULL,
    reasons TEXT NOT NULL,
    signals TEXT NOT NULL,
    held BIGINT NOT NULL,
    label TEXT CHECK (label IN ('fraud', 'legit')),
    created_at BIGINT NOT NULL,
    labelled_at BIGINT
);
CREATE INDEX risk_by_time ON risk_assessments (created_at);
CREATE INDEX risk_by_order ON risk_assessments (order_id);
CREATE INDEX orders_by_address ON orders (zip, address1);
