-- Inventory the merchant keeps count of: each item's units on hand and the supplier's lead time
-- in days, both optional (NULL: not kept), read by the reorder suggestions.
ALTER TABLE variants ADD COLUMN stock BIGINT;
ALTER TABLE variants ADD COLUMN lead_time_days BIGINT;

-- A product's or an item's sales history is read without scanning every order line.
CREATE INDEX order_items_by_product ON order_items (product_id);
CREATE INDEX order_items_by_item ON order_items (item_id);
