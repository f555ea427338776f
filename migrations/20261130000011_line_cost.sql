-- What the store paid for each unit sold, when it is known (an imported sales history such as
-- Ta-Feng's carries it; NULL: unknown), so the merchant's sales figures can give a margin.
ALTER TABLE order_items ADD COLUMN cost_cents BIGINT;
