-- PLACEHOLDER (branch pgpage only): version 011 is reserved for another change of the same wave, and the
-- migrator needs contiguous versions, so this empty migration lets 012 run on this branch. At merge: drop this
-- pair if the other 011 exists, else drop it and rename 012_* to 011_*.
SELECT 1;
