CREATE VIEW account_totals AS
    SELECT a.id, a.name, coalesce(sum(o.amount), 0) AS total
    FROM accounts a LEFT JOIN orders o ON o.account_id = a.id
    GROUP BY a.id, a.name;
