//! The agent's database: the deployments it watches, its registry checks, the versions it
//! must not apply again, the notifications it has sent, and an append-only event log.
//!
//! SQLite by default, in a file next to the agent's configuration; PostgreSQL when given a
//! `postgres://` URL, so that several controllers of a fleet can share one. [`Store::open`]
//! creates what is missing and brings the schema up to date (`migrations/sqlite` and
//! `migrations/postgres`: one schema, written twice where the two dialects differ).
//!
//! Every statement is one SQL text that runs on both databases: placeholders are `$1`, `$2`,
//! ..., which SQLite reads as numbered parameters, and the rest is the SQL both understand
//! (`ON CONFLICT`, `RETURNING`). Queries are bound at run time, so building needs no database.
//!
//! Timestamps are kept to the microsecond, PostgreSQL's precision, on both databases, so a
//! value reads back equal to what was written wherever it is stored.
//!
//! # What this module does not do
//! It decides nothing: it does not know when a check is due, which version to skip or whether
//! a notification should go out; the core and the engine do, and the agent records here what
//! they did. It reads no clock: every time is an argument. It does not prune old checks or
//! events.

mod error;
mod event;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::SubsecRound as _;
use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use upkeep_versioning_core::policy::{CheckResult, Policy};
use upkeep_versioning_core::{Timestamp, UpdateKind};

pub use error::StoreError;
pub use event::{EventKind, UnknownEventKind};

/// The SQLite schema, embedded in the binary.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL schema, embedded in the binary.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a statement waits for a free connection before it fails; also bounds how long
/// [`Store::ping`] takes when the server is gone.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The agent's database; cheap to clone (clones share one connection pool).
///
/// Open it with [`Store::open`]. Every method is one statement, so each is atomic on its own;
/// none spans a transaction across calls.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// The file or `host:port/database`, for `Debug`; never the URL, which may hold a password.
    location: String,
}

/// Which database a [`Store`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// An SQLite file (or memory, for `sqlite::memory:`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Where the agent learned of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeploymentSource {
    /// The agent's configuration file.
    Config,
    /// A container's labels.
    Label,
    /// A compose project.
    Compose,
}

/// A deployment as the agent knows it: what runs and under which policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its id, such as the service's name; unique in the store.
    pub id: String,
    /// The image repository, such as `docker.io/library/nginx`, without tag or digest.
    pub image: String,
    /// The tag it runs.
    pub current_tag: String,
    /// The digest it runs, when known.
    pub current_digest: Option<String>,
    /// How far upkeep may move it on its own.
    pub policy: Policy,
    /// Where the agent learned of it.
    pub source: DeploymentSource,
}

/// A stored [`Deployment`] with the times the store keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    /// The deployment.
    pub deployment: Deployment,
    /// When it was first stored.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// One registry check of a deployment: what target selection found, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The outcome; a failed check has no target.
    pub result: CheckResult,
    /// The digest the target named, when the check found one to apply: a tag pushed again
    /// with other content is another image.
    pub target_digest: Option<String>,
    /// Why the check failed, if it did.
    pub error: Option<String>,
}

/// Something that happened, for the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When it happened.
    pub at: Timestamp,
    /// The deployment it concerns, if any.
    pub deployment: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// The tag moved from, for a move.
    pub from_tag: Option<String>,
    /// The tag moved (or meant to move) to.
    pub to_tag: Option<String>,
    /// A sentence for people.
    pub message: String,
}

/// A logged [`Event`] with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Its id: increasing in the order events were appended, the cursor of [`Store::events`].
    pub id: i64,
    /// The event.
    pub event: Event,
}

/// The pool of whichever database the store uses.
#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's concrete pool. The body is the same code
/// for both databases, compiled once for each.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

impl Store {
    /// Opens the database at `url_or_path` and brings its schema up to date.
    ///
    /// - a file path, or a `sqlite:` URL (`sqlite://agent.db`, `sqlite:///var/lib/upkeep/agent.db`):
    ///   an SQLite file, created if missing (its directory must exist), in WAL mode so that
    ///   readers do not wait for the writer; `sqlite::memory:` is a database in memory that
    ///   lives as long as the store;
    /// - a `postgres://` or `postgresql://` URL: a PostgreSQL database, which must exist.
    ///
    /// Opening twice, or opening a database another agent opened, is safe: applied
    /// migrations are not run again.
    pub async fn open(url_or_path: &str) -> Result<Self, StoreError> {
        match url_or_path.split_once("://").map(|(scheme, _)| scheme) {
            Some("postgres" | "postgresql") => Self::open_postgres(url_or_path).await,
            _ if url_or_path.starts_with("sqlite:") => {
                let options = SqliteConnectOptions::from_str(url_or_path).map_err(|source| {
                    StoreError::InvalidUrl {
                        backend: "SQLite",
                        source,
                    }
                })?;
                let in_memory = url_or_path == "sqlite::memory:";
                Self::open_sqlite(options, in_memory).await
            }
            // A file path has no `://`: anything with one is a URL.
            Some(scheme) => Err(StoreError::UnsupportedUrl {
                scheme: scheme.to_owned(),
            }),
            None => {
                let options = SqliteConnectOptions::new().filename(url_or_path);
                Self::open_sqlite(options, false).await
            }
        }
    }

    async fn open_sqlite(
        options: SqliteConnectOptions,
        in_memory: bool,
    ) -> Result<Self, StoreError> {
        let path = options.get_filename().to_path_buf();
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the log at every commit: what was stored before a power cut is still
            // there after it, so an announcement made is never made again. (NORMAL would only
            // sync at checkpoints and could lose the last commits.)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .foreign_keys(true);
        let mut pool_options = SqlitePoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        if in_memory {
            // The database lives only while a connection to it is open: keep one forever. Only
            // one: connections sharing a memory database lock each other out without waiting.
            pool_options = pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool =
            pool_options
                .connect_with(options)
                .await
                .map_err(|source| StoreError::SqliteOpen {
                    hint: error::sqlite_open_hint(&source),
                    path: path.clone(),
                    source,
                })?;
        SQLITE_MIGRATIONS
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                hint: error::migrate_hint(&source),
                source,
            })?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
            location: path.display().to_string(),
        })
    }

    async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
            backend: "PostgreSQL",
            source,
        })?;
        let address = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        // One connection first, outside a pool: a pool retries a refused connection until its
        // timeout and then reports only that it timed out, hiding the cause.
        let mut connection = PgConnection::connect_with(&options)
            .await
            .map_err(|source| StoreError::PostgresConnect {
                hint: error::postgres_connect_hint(&source),
                address: address.clone(),
                source,
            })?;
        POSTGRES_MIGRATIONS
            .run(&mut connection)
            .await
            .map_err(|source| StoreError::Migrate {
                hint: error::migrate_hint(&source),
                source,
            })?;
        // The migrations are applied; how this connection closes no longer matters.
        let _ = connection.close().await;
        let location = format!("{address}/{}", options.get_database().unwrap_or_default());
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self {
            pool: Pool::Postgres(pool),
            location,
        })
    }

    /// Which database this store uses.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Waits for running statements and closes every connection, of this store and of its
    /// clones; later calls fail. An SQLite file is left complete, without a `-wal` to replay.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// Succeeds when the database answers a trivial query; for `/health`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))
        .map_err(query_error("answering a ping"))
    }

    /// Stores `deployment`, replacing every field of the one with its id if there is one;
    /// `now` becomes its `updated_at`, and its `created_at` when it is new.
    pub async fn upsert_deployment(
        &self,
        deployment: &Deployment,
        now: Timestamp,
    ) -> Result<DeploymentRecord, StoreError> {
        let row: DeploymentRow = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO deployments \
                     (id, image, current_tag, current_digest, policy, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT (id) DO UPDATE SET \
                     image = excluded.image, current_tag = excluded.current_tag, \
                     current_digest = excluded.current_digest, policy = excluded.policy, \
                     source = excluded.source, updated_at = excluded.updated_at \
                 RETURNING id, image, current_tag, current_digest, policy, source, created_at, updated_at",
            )
            .bind(&deployment.id)
            .bind(&deployment.image)
            .bind(&deployment.current_tag)
            .bind(deployment.current_digest.as_deref())
            .bind(deployment.policy.as_str())
            .bind(deployment.source.as_str())
            .bind(stored(now))
            .fetch_one(pool)
            .await
        })
        .map_err(query_error("storing a deployment"))?;
        row.try_into()
    }

    /// Every deployment, by id.
    pub async fn deployments(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows: Vec<DeploymentRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, image, current_tag, current_digest, policy, source, created_at, updated_at \
                 FROM deployments ORDER BY id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(query_error("listing deployments"))?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The deployment with this id, if it is stored.
    pub async fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        let row: Option<DeploymentRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, image, current_tag, current_digest, policy, source, created_at, updated_at \
                 FROM deployments WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })
        .map_err(query_error("reading a deployment"))?;
        row.map(TryInto::try_into).transpose()
    }

    /// Changes a stored deployment's policy; [`StoreError::UnknownDeployment`] if there is none.
    pub async fn set_policy(
        &self,
        id: &str,
        policy: Policy,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query("UPDATE deployments SET policy = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(policy.as_str())
                .bind(stored(now))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(query_error("setting a policy"))?;
        if done == 0 {
            return Err(StoreError::UnknownDeployment { id: id.to_owned() });
        }
        Ok(())
    }

    /// Records a registry check of deployment `id` (which must be stored).
    pub async fn record_check(&self, id: &str, check: &Check) -> Result<(), StoreError> {
        let result = &check.result;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO checks \
                 (deployment, checked_at, current_tag, target, kind, error, target_digest) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(stored(result.checked_at))
            .bind(&result.current_tag)
            .bind(result.target.as_deref())
            .bind(result.kind.as_str())
            .bind(check.error.as_deref())
            .bind(check.target_digest.as_deref())
            .execute(pool)
            .await
            .map(drop)
        })
        .map_err(write_error(id, "recording a check"))?;
        Ok(())
    }

    /// The newest check of deployment `id` by `checked_at` (of two at the same time, the one
    /// recorded last), if it was ever checked.
    pub async fn last_check(&self, id: &str) -> Result<Option<Check>, StoreError> {
        let row: Option<CheckRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT checked_at, current_tag, target, kind, error, target_digest FROM checks \
                 WHERE deployment = $1 ORDER BY checked_at DESC, id DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })
        .map_err(query_error("reading the last check"))?;
        row.map(TryInto::try_into).transpose()
    }

    /// The newest check of every deployment that has one, by deployment id, in one query (as
    /// [`last_check`](Self::last_check) chooses: newest time, then last recorded).
    pub async fn last_checks(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Check>, StoreError> {
        let rows: Vec<LastCheckRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT deployment, checked_at, current_tag, target, kind, error, target_digest \
                     FROM ( \
                       SELECT deployment, checked_at, current_tag, target, kind, error, \
                         target_digest, \
                         ROW_NUMBER() OVER (PARTITION BY deployment \
                                            ORDER BY checked_at DESC, id DESC) AS newest \
                       FROM checks) ranked \
                     WHERE newest = 1",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(query_error("reading the last checks"))?;
        rows.into_iter()
            .map(
                |(deployment, checked_at, current_tag, target, kind, error, target_digest)| {
                    let check = Check::try_from(CheckRow {
                        checked_at,
                        current_tag,
                        target,
                        kind,
                        error,
                        target_digest,
                    })?;
                    Ok((deployment, check))
                },
            )
            .collect()
    }

    /// When a check of deployment `id` first chose `tag` as its target: how long upkeep has
    /// known the tag, which a minimum age counts from where the registry does not say when
    /// the tag was pushed.
    pub async fn first_seen(
        &self,
        id: &str,
        tag: &str,
        digest: Option<&str>,
    ) -> Result<Option<Timestamp>, StoreError> {
        // The same image: the same tag naming the same digest (or, for checks that recorded
        // none, the tag alone).
        let row: Option<(Timestamp,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT checked_at FROM checks WHERE deployment = $1 AND target = $2 \
                 AND COALESCE(target_digest, '') = COALESCE($3, '') \
                 ORDER BY checked_at ASC, id ASC LIMIT 1",
            )
            .bind(id)
            .bind(tag)
            .bind(digest)
            .fetch_optional(pool)
            .await
        })
        .map_err(query_error("reading when a tag was first seen"))?;
        Ok(row.map(|(at,)| at))
    }

    /// Deletes the records of checks made before `before`, except those the agent still
    /// reads: the newest check of each deployment (which paces the next) and the first
    /// check that chose each target (which a minimum age counts from). Returns how many
    /// were deleted.
    pub async fn prune_checks(&self, before: Timestamp) -> Result<u64, StoreError> {
        // The two subqueries order as `last_check` and `first_seen` do, so that the rows
        // they would read are the rows kept.
        let deleted = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM checks WHERE checked_at < $1 \
                 AND id <> (SELECT newest.id FROM checks AS newest \
                            WHERE newest.deployment = checks.deployment \
                            ORDER BY newest.checked_at DESC, newest.id DESC LIMIT 1) \
                 AND (target IS NULL OR id <> (SELECT earliest.id FROM checks AS earliest \
                            WHERE earliest.deployment = checks.deployment \
                              AND earliest.target = checks.target \
                              AND COALESCE(earliest.target_digest, '') \
                                  = COALESCE(checks.target_digest, '') \
                            ORDER BY earliest.checked_at ASC, earliest.id ASC LIMIT 1))",
            )
            .bind(stored(before))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(query_error("pruning old checks"))?;
        Ok(deleted)
    }

    /// Claims the notification `key` (such as deployment, version and event joined): true
    /// only for the first caller ever, who should then send it.
    ///
    /// One insert-if-absent statement, so of two agents or tasks racing for the same key
    /// exactly one gets true. A sender that then fails to send has still claimed the key.
    pub async fn mark_notified(&self, key: &str, now: Timestamp) -> Result<bool, StoreError> {
        let inserted = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO notifications_sent (dedup_key, sent_at) VALUES ($1, $2) \
                 ON CONFLICT (dedup_key) DO NOTHING",
            )
            .bind(key)
            .bind(stored(now))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(query_error("marking a notification sent"))?;
        Ok(inserted == 1)
    }

    /// Appends `event` to the log and returns its id.
    pub async fn append_event(&self, event: &Event) -> Result<i64, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO events (at, deployment, kind, from_tag, to_tag, message) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(stored(event.at))
            .bind(event.deployment.as_deref())
            .bind(event.kind.as_str())
            .bind(event.from_tag.as_deref())
            .bind(event.to_tag.as_deref())
            .bind(&event.message)
            .fetch_one(pool)
            .await
        })
        .map_err(query_error("appending an event"))
    }

    /// Up to `limit` events with an id greater than `after_id`, in the order they were
    /// appended. Start with `after_id` 0 and pass the last id seen to read on.
    ///
    /// On PostgreSQL, when several agents append at once, a smaller id can commit after a
    /// larger one; a reader right at the end of the log may then step past it.
    pub async fn events(&self, after_id: i64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, at, deployment, kind, from_tag, to_tag, message FROM events \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(query_error("reading events"))?;
        rows.into_iter().map(EventRecord::try_from).collect()
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: the pools' own `Debug` prints their connect options, password included.
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("location", &self.location)
            .finish()
    }
}

impl DeploymentSource {
    /// Every source.
    pub const ALL: [Self; 3] = [Self::Config, Self::Label, Self::Compose];

    /// The word stored and shown: `config`, `label` or `compose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Label => "label",
            Self::Compose => "compose",
        }
    }
}

impl fmt::Display for DeploymentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a word that names no [`DeploymentSource`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deployment source `{0}`: expected config, label or compose")]
pub struct UnknownSource(pub String);

impl FromStr for DeploymentSource {
    type Err = UnknownSource;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|source| source.as_str() == word)
            .ok_or_else(|| UnknownSource(word.to_owned()))
    }
}

/// `at` as the databases keep it: PostgreSQL stores microseconds, and SQLite is made to agree.
fn stored(at: Timestamp) -> Timestamp {
    at.trunc_subsecs(6)
}

/// Wraps a driver error with what was being done.
fn query_error(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { action, source }
}

/// [`query_error`] for a write that names deployment `id`, which must exist.
fn write_error(id: &str, action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| {
        let unknown = source
            .as_database_error()
            .is_some_and(|error| error.is_foreign_key_violation());
        if unknown {
            StoreError::UnknownDeployment { id: id.to_owned() }
        } else {
            StoreError::Query { action, source }
        }
    }
}

/// Parses a stored word, or says which column holds something unreadable.
fn parse_column<T>(column: &'static str, value: String) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value
        .parse()
        .map_err(|source: T::Err| StoreError::InvalidValue {
            column,
            value,
            source: Box::new(source),
        })
}

// Rows as the databases return them: plain text where the API has a type, parsed on the way out.

#[derive(sqlx::FromRow)]
struct DeploymentRow {
    id: String,
    image: String,
    current_tag: String,
    current_digest: Option<String>,
    policy: String,
    source: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<DeploymentRow> for DeploymentRecord {
    type Error = StoreError;

    fn try_from(row: DeploymentRow) -> Result<Self, StoreError> {
        Ok(Self {
            deployment: Deployment {
                policy: parse_column("deployments.policy", row.policy)?,
                source: parse_column("deployments.source", row.source)?,
                id: row.id,
                image: row.image,
                current_tag: row.current_tag,
                current_digest: row.current_digest,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A deployment's id and its newest check, as `last_checks` reads them.
type LastCheckRow = (
    String,
    Timestamp,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

#[derive(sqlx::FromRow)]
struct CheckRow {
    checked_at: Timestamp,
    current_tag: String,
    target: Option<String>,
    kind: String,
    error: Option<String>,
    target_digest: Option<String>,
}

impl TryFrom<CheckRow> for Check {
    type Error = StoreError;

    fn try_from(row: CheckRow) -> Result<Self, StoreError> {
        let kind: UpdateKind = parse_column("checks.kind", row.kind)?;
        Ok(Self {
            result: CheckResult {
                checked_at: row.checked_at,
                current_tag: row.current_tag,
                target: row.target,
                kind,
            },
            target_digest: row.target_digest,
            error: row.error,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    at: Timestamp,
    deployment: Option<String>,
    kind: String,
    from_tag: Option<String>,
    to_tag: Option<String>,
    message: String,
}

impl TryFrom<EventRow> for EventRecord {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            event: Event {
                at: row.at,
                deployment: row.deployment,
                kind: parse_column("events.kind", row.kind)?,
                from_tag: row.from_tag,
                to_tag: row.to_tag,
                message: row.message,
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_file_syncs_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        let store = Store::open(&path.display().to_string()).await.unwrap();
        let Pool::Sqlite(pool) = &store.pool else {
            panic!("a file path opens SQLite");
        };
        // 2 is FULL: the log is synced at every commit, so a power cut loses no commit.
        let (level,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(level, 2);
    }

    #[test]
    fn deployment_sources_read_back_as_written() {
        for source in DeploymentSource::ALL {
            assert_eq!(source.to_string().parse::<DeploymentSource>(), Ok(source));
        }
        assert_eq!(
            "docker"
                .parse::<DeploymentSource>()
                .map_err(|error| error.to_string()),
            Err("unknown deployment source `docker`: expected config, label or compose".to_owned())
        );
    }

    #[test]
    fn stored_times_keep_microseconds() {
        let precise = Timestamp::from_timestamp(1_764_000_000, 123_456_789);
        let micros = Timestamp::from_timestamp(1_764_000_000, 123_456_000);
        assert_eq!(precise.map(stored), micros);
    }

    #[test]
    fn an_unreadable_column_is_named_with_its_value() {
        let error = parse_column::<Policy>("deployments.policy", "auto_everything".to_owned())
            .map(drop)
            .map_err(|error| error.to_string());
        assert_eq!(
            error,
            Err("the database holds an invalid deployments.policy `auto_everything`: it was written by another upkeep-agent version or by hand; correct the row".to_owned())
        );
    }
}
