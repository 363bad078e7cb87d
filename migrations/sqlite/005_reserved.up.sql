-- Placeholder keeping the numbers contiguous: h10s used one migration (004) of the two reserved for it.
-- The lead may renumber 006_rollups/007_search to 005/006 and delete this file.
SELECT 1;
