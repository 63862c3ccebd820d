CREATE TABLE orders (
    id integer PRIMARY KEY,
    account_id integer NOT NULL REFERENCES accounts (id),
    amount numeric(12, 2) NOT NULL
);
INSERT INTO orders (id, account_id, amount) VALUES (10, 1, 12.50), (11, 2, 7.00), (12, 1, 30.00);
