CREATE INDEX orders_account_idx ON orders (account_id);
