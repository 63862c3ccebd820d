DROP INDEX orders_amount_idx;
