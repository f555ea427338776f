-- When each order was placed (ISO 8601 text: `2000-11-01` or `2000-11-01T09:30:00Z`), for the
-- models that learn from the history (recommendations, demand). Stores imported without dates,
-- such as the tau2 store, leave it empty.
ALTER TABLE orders ADD COLUMN placed_at TEXT;
CREATE INDEX orders_by_placed_at ON orders (placed_at);
