CREATE INDEX orders_amount_idx ON orders (amount);
