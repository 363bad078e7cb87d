-- Placeholder for h10s's migration 005 (the lead renumbers at merge); intentionally empty.
SELECT 1;
