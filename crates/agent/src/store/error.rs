//! What can go wrong with the agent's database, each kind saying what failed and how to fix it.

use std::path::PathBuf;

/// Why the agent's database could not be opened, read or written.
///
/// Messages name the database by its file or `host:port`, never by its URL, so a password in
/// the URL stays out of logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The location is a URL of a kind the store does not speak.
    #[error(
        "unsupported database URL scheme `{scheme}://`: use a file path, `sqlite://PATH` or `postgres://USER@HOST:PORT/DATABASE`"
    )]
    UnsupportedUrl {
        /// The scheme given, such as `mysql`.
        scheme: String,
    },
    /// A `sqlite:` or `postgres:` URL that cannot be parsed.
    #[error("the {backend} URL cannot be parsed: fix its syntax")]
    InvalidUrl {
        /// `SQLite` or `PostgreSQL`.
        backend: &'static str,
        /// The parser's complaint.
        #[source]
        source: sqlx::Error,
    },
    /// The SQLite file could not be opened or created.
    #[error("cannot open the SQLite database {}: {hint}", path.display())]
    SqliteOpen {
        /// The database file.
        path: PathBuf,
        /// What to check, chosen from the cause.
        hint: &'static str,
        /// SQLite's error.
        #[source]
        source: sqlx::Error,
    },
    /// No connection to the PostgreSQL server could be made.
    #[error("cannot connect to PostgreSQL at {address}: {hint}")]
    PostgresConnect {
        /// `host:port`, or the socket directory.
        address: String,
        /// What to check, chosen from the cause.
        hint: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot bring the database schema up to date: {hint}")]
    Migrate {
        /// What to do, chosen from the cause.
        hint: &'static str,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed on an open database.
    #[error("database error while {action}: check that the database is reachable and writable")]
    Query {
        /// What was being done, such as "recording a check".
        action: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A write named a deployment the database does not hold.
    #[error("no deployment `{id}` in the database: store it with `upsert_deployment` first")]
    UnknownDeployment {
        /// The deployment's id.
        id: String,
    },
    /// A stored value that this version of the agent cannot read.
    #[error(
        "the database holds an invalid {column} `{value}`: it was written by another upkeep-agent version or by hand; correct the row"
    )]
    InvalidValue {
        /// `table.column`.
        column: &'static str,
        /// The stored text.
        value: String,
        /// Why it does not parse.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What to check when SQLite cannot open `path`, from SQLite's primary result code.
pub(super) fn sqlite_open_hint(error: &sqlx::Error) -> &'static str {
    let code = error
        .as_database_error()
        .and_then(|error| error.code())
        .and_then(|code| code.parse::<i32>().ok());
    // Extended result codes carry the primary code in their low byte.
    match code.map(|code| code & 0xff) {
        Some(26) => "the file is not an SQLite database; point the agent at another file",
        Some(8) => "the file or its directory is read-only; make both writable by this user",
        Some(5) => "the database is locked by another process; stop it or wait",
        _ => "check that its directory exists and is writable by this user",
    }
}

/// What to check when PostgreSQL refuses or does not answer.
pub(super) fn postgres_connect_hint(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Database(error) => match error.code().as_deref() {
            Some("28P01" | "28000") => {
                "the server refused the user or password; check them in the URL"
            }
            Some("3D000") => {
                "the database does not exist; create it (`createdb NAME`) or fix the URL"
            }
            _ => "the server refused the connection; check the URL and the server's log",
        },
        sqlx::Error::Tls(_) => {
            "the TLS handshake failed; check `sslmode` in the URL and the server's certificate"
        }
        _ => "unreachable; check the URL and that the server runs and accepts TCP connections",
    }
}

/// What to do when migrations fail.
pub(super) fn migrate_hint(error: &sqlx::migrate::MigrateError) -> &'static str {
    use sqlx::migrate::MigrateError;
    match error {
        MigrateError::VersionMissing(_) | MigrateError::VersionTooNew(..) => {
            "the database was written by a newer upkeep-agent; run that version or a newer one"
        }
        MigrateError::VersionMismatch(_) => {
            "an applied migration differs from this agent's; the database was made by a modified build"
        }
        _ => "check that the database user may create tables and that the database is writable",
    }
}
