-- A partial index whose predicate reads balance made every balance change a non-HOT
-- update (a new entry in each of customer's indexes). Operators' negative-balance list
-- is rare; it scans the merchant's customers instead.
drop index if exists customer_negative_balance_idx;
