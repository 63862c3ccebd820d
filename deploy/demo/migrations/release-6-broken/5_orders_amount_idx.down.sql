-- Broken on purpose (the demo gives this copy to one host only): the index is
-- misnamed, so reverting revision 5 fails there after revision 6 was already
-- reverted, and the host is restored from the backup taken at the start of the
-- run.
DROP INDEX orders_amount_index;
