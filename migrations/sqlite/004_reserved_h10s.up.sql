-- Placeholder for h10s's migration 004 (the lead renumbers at merge); intentionally empty.
SELECT 1;
