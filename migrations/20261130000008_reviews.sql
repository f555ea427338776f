-- Product reviews, for the review analyzer: the product, the customer when known, 1–5 stars, a
-- title, the text and when it was written (ISO 8601 text, when known). A customer's erasure keeps
-- the review's words but forgets who wrote them.
CREATE TABLE reviews (
    review_id TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (product_id),
    user_id TEXT,
    rating BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    placed_at TEXT
);
CREATE INDEX reviews_by_product ON reviews (product_id, position);
CREATE INDEX reviews_by_user ON reviews (user_id);

-- How each conversation's shopper sounds, from the sentiment of their messages as they arrive,
-- in thousandths from -1000 (furious) to 1000 (delighted), so that the staff console can put
-- upset shoppers first. Empty until the shopper writes.
ALTER TABLE conversations ADD COLUMN mood BIGINT;
