-- Version 9 is reserved for the single-event write path (issue 11), developed alongside 010; this no-op keeps
-- the versions contiguous until that migration takes its place (delete this file when it does).
SELECT 1;
