-- The store: catalog, customers and orders. Portable SQL: the same file runs on SQLite and
-- PostgreSQL. Money is integer cents (BIGINT); booleans are 0/1 (BIGINT); lists and option maps
-- are JSON text; `position` keeps the order records were imported or appended in.

CREATE TABLE products (
    product_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    position BIGINT NOT NULL
);

CREATE TABLE variants (
    item_id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (product_id),
    position BIGINT NOT NULL,
    options TEXT NOT NULL,
    available BIGINT NOT NULL,
    price_cents BIGINT NOT NULL
);
CREATE INDEX variants_by_product ON variants (product_id, position);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    address1 TEXT NOT NULL,
    address2 TEXT NOT NULL,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    state TEXT NOT NULL,
    zip TEXT NOT NULL
);
CREATE INDEX users_by_email ON users (lower(email));
CREATE INDEX users_by_zip ON users (zip);

CREATE TABLE payment_methods (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    payment_method_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    source TEXT NOT NULL,
    brand TEXT,
    last_four TEXT,
    balance_cents BIGINT,
    PRIMARY KEY (user_id, payment_method_id)
);

CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    address1 TEXT NOT NULL,
    address2 TEXT NOT NULL,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    state TEXT NOT NULL,
    zip TEXT NOT NULL,
    status TEXT NOT NULL,
    cancel_reason TEXT,
    exchange_items TEXT,
    exchange_new_items TEXT,
    exchange_payment_method_id TEXT,
    exchange_price_difference_cents BIGINT,
    return_items TEXT,
    return_payment_method_id TEXT
);
CREATE INDEX orders_by_user ON orders (user_id);

-- A customer's order list, in the customer's own order.
CREATE TABLE user_orders (
    user_id TEXT NOT NULL REFERENCES users (user_id),
    position BIGINT NOT NULL,
    order_id TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
);

CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    position BIGINT NOT NULL,
    item_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    name TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    options TEXT NOT NULL,
    PRIMARY KEY (order_id, position)
);

CREATE TABLE fulfillments (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    position BIGINT NOT NULL,
    tracking_ids TEXT NOT NULL,
    item_ids TEXT NOT NULL,
    PRIMARY KEY (order_id, position)
);

CREATE TABLE payment_history (
    order_id TEXT NOT NULL REFERENCES orders (order_id),
    position BIGINT NOT NULL,
    transaction_type TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    payment_method_id TEXT NOT NULL,
    PRIMARY KEY (order_id, position)
);

-- Counters shared by every clerk instance on this store. `catalog_version` grows with every
-- catalog change, so that each instance's search index knows when it is stale.
CREATE TABLE clerk_meta (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO clerk_meta (name, value) VALUES ('catalog_version', 0);
