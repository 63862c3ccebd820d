CREATE VIEW big_orders AS
    SELECT id, account_id, amount FROM orders WHERE amount >= 20;
