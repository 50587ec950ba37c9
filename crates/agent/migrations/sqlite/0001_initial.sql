-- The agent's state (see crates/agent/src/store.rs). Kept in step with
-- migrations/postgres/0001_initial.sql: same tables, columns and keys.
-- Timestamps are RFC 3339 text in UTC, as sqlx writes `DateTime<Utc>`; they sort as text.

CREATE TABLE deployments (
    id TEXT PRIMARY KEY NOT NULL,
    image TEXT NOT NULL,
    current_tag TEXT NOT NULL,
    current_digest TEXT,
    policy TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every registry check; the newest one per deployment paces the next.
CREATE TABLE checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    checked_at TEXT NOT NULL,
    current_tag TEXT NOT NULL,
    target TEXT,
    kind TEXT NOT NULL,
    error TEXT
);
CREATE INDEX checks_by_deployment ON checks (deployment, checked_at);

-- Versions rolled back from, never applied again on their own.
CREATE TABLE skipped_versions (
    deployment TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    reason TEXT NOT NULL,
    skipped_at TEXT NOT NULL,
    PRIMARY KEY (deployment, tag)
);

-- One row per notification sent; the key's uniqueness is what keeps a second sender quiet.
CREATE TABLE notifications_sent (
    dedup_key TEXT PRIMARY KEY NOT NULL,
    sent_at TEXT NOT NULL
);

-- Append-only log, paged by id. AUTOINCREMENT: an id is never reused, so a cursor stays valid.
-- No foreign key: the log outlives the deployments it mentions.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    deployment TEXT,
    kind TEXT NOT NULL,
    from_tag TEXT,
    to_tag TEXT,
    message TEXT NOT NULL
);
