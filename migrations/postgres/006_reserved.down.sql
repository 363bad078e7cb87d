-- Placeholder keeping the numbers contiguous: h10s used one migration (005) of the two reserved for it.
-- The lead may renumber 007_rollups/008_search to 006/007 and delete this file.
SELECT 1;
