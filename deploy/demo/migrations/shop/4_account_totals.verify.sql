SELECT count(*) = 3 FROM account_totals;
