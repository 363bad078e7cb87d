-- PLACEHOLDER (branch pgpage only); see 011_reserved.up.sql.
SELECT 1;
