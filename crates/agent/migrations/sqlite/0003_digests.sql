-- A tag pushed again with other content is another image: the digest a check's target named
-- (a minimum age counts from the first sighting of that image, not of the tag) and the digest
-- of a version skipped after a rollback (the tag pushed anew is tried again).
ALTER TABLE checks ADD COLUMN target_digest TEXT;
ALTER TABLE skipped_versions ADD COLUMN digest TEXT;
