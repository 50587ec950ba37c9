-- Pruning the check history finds the old checks by time alone.
CREATE INDEX checks_by_time ON checks (checked_at);
