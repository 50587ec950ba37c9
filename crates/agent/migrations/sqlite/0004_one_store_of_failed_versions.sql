-- The versions that failed are kept in one place, the version manifest, where the engine
-- records each rollback and which every plan reads (the agent's, the CLI's, the API's). The
-- agent's own copy of them goes.
DROP TABLE skipped_versions;
