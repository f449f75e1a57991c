-- A submission made in a contest names it and the team it counts for
-- (cc-contest said so at submit time); '' outside contests.
ALTER TABLE submissions ADD COLUMN contest text NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN team text NOT NULL DEFAULT '';
