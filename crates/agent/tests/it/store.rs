//! The agent's store on both databases: every case in the first part runs twice, on a fresh
//! SQLite file and on a fresh PostgreSQL cluster; the second part covers what belongs to one
//! database only (the SQLite file, WAL mode) and the messages of failures to open.

use chrono::{DateTime, Utc};
use tempfile::TempDir;
use upkeep_agent::store::{
    Check, Deployment, DeploymentSource, Event, EventKind, Store, StoreError,
};
use upkeep_versioning_core::UpdateKind;
use upkeep_versioning_core::policy::{CheckResult, Policy};

use crate::support::postgres::PgCluster;

/// A fresh database of one kind, removed when dropped.
enum TestDb {
    Sqlite(TempDir),
    Postgres(PgCluster),
}

impl TestDb {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    /// `None` when the test is skipped (PostgreSQL is not installed and `CI` is not set).
    fn postgres() -> Option<Self> {
        PgCluster::start().map(Self::Postgres)
    }

    fn location(&self) -> String {
        match self {
            // A plain path, the agent's default form; `sqlite://` URLs are tested below.
            Self::Sqlite(dir) => dir.path().join("agent.db").display().to_string(),
            Self::Postgres(cluster) => cluster.url(),
        }
    }

    async fn open(&self) -> Store {
        Store::open(&self.location()).await.unwrap()
    }
}

/// For each `case`, a test `sqlite::case` and a test `postgres::case`, each calling
/// `case(&TestDb)` with a fresh database.
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::TestDb::sqlite()).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::TestDb::postgres() else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

on_both_databases!(
    migrations_are_idempotent,
    restart_loses_nothing,
    upsert_replaces_all_but_created_at,
    set_policy_changes_only_the_policy,
    writes_for_an_unknown_deployment_say_so,
    mark_notified_is_true_once,
    mark_notified_is_true_once_under_concurrency,
    events_page_in_order,
    a_tag_pushed_again_is_another_image,
    last_check_returns_the_newest,
    pruning_keeps_the_checks_the_agent_reads,
    timestamps_keep_microseconds,
    ping_answers,
);

/// Seconds after a fixed instant (2025-11-24T16:00:00Z): the store reads no clock.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_000_000 + seconds, 0).unwrap()
}

fn deployment(id: &str, tag: &str) -> Deployment {
    Deployment {
        id: id.to_owned(),
        image: format!("docker.io/library/{id}"),
        current_tag: tag.to_owned(),
        current_digest: Some(format!("sha256:{}", "a".repeat(64))),
        policy: Policy::AutoPatch,
        source: DeploymentSource::Compose,
    }
}

/// A fresh store holding the deployments `api` and `web` at 1.0.0, stored at `since`.
async fn with_api_and_web(db: &TestDb, since: DateTime<Utc>) -> Store {
    let store = db.open().await;
    for id in ["api", "web"] {
        store
            .upsert_deployment(&deployment(id, "1.0.0"), since)
            .await
            .unwrap();
    }
    store
}

fn check(checked_at: DateTime<Utc>, current: &str, target: Option<&str>) -> Check {
    Check {
        result: CheckResult {
            checked_at,
            current_tag: current.to_owned(),
            target: target.map(str::to_owned),
            kind: if target.is_some() {
                UpdateKind::Patch
            } else {
                UpdateKind::None
            },
        },
        target_digest: None,
        error: None,
    }
}

fn event(seconds: i64, deployment: &str, kind: EventKind) -> Event {
    Event {
        at: at(seconds),
        deployment: Some(deployment.to_owned()),
        kind,
        from_tag: Some("1.0.0".to_owned()),
        to_tag: Some("1.0.1".to_owned()),
        message: format!("{deployment}: {kind}"),
    }
}

async fn migrations_are_idempotent(db: &TestDb) {
    let first = db.open().await;
    first
        .upsert_deployment(&deployment("web", "1.0.0"), at(0))
        .await
        .unwrap();
    // A second open while the first is still open, as a second agent would: the migrations
    // are already applied and are not run again.
    let second = db.open().await;
    assert_eq!(second.deployments().await.unwrap().len(), 1);
    first.close().await;
    second.close().await;
    let third = db.open().await;
    let stored = third.deployments().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].deployment, deployment("web", "1.0.0"));
}

async fn restart_loses_nothing(db: &TestDb) {
    let store = with_api_and_web(db, at(1)).await;
    store
        .record_check("web", &check(at(2), "1.0.0", Some("1.0.1")))
        .await
        .unwrap();
    assert!(
        store
            .mark_notified("web/1.0.1/available", at(4))
            .await
            .unwrap()
    );
    let first_event = store
        .append_event(&event(5, "web", EventKind::Applied))
        .await
        .unwrap();
    store
        .append_event(&event(6, "api", EventKind::Failed))
        .await
        .unwrap();

    let deployments = store.deployments().await.unwrap();
    let last_check = store.last_check("web").await.unwrap();
    let events = store.events(0, 100).await.unwrap();
    store.close().await;

    let store = db.open().await;
    assert_eq!(store.deployments().await.unwrap(), deployments);
    assert_eq!(store.last_check("web").await.unwrap(), last_check);
    assert_eq!(store.events(0, 100).await.unwrap(), events);
    assert!(
        !store
            .mark_notified("web/1.0.1/available", at(7))
            .await
            .unwrap()
    );
    // Ids go on from where they were, so an API client's cursor stays valid.
    let next = store
        .append_event(&event(8, "web", EventKind::Waiting))
        .await
        .unwrap();
    assert!(next > events[1].id && events[1].id > first_event);
}

async fn upsert_replaces_all_but_created_at(db: &TestDb) {
    let store = db.open().await;
    let created = store
        .upsert_deployment(&deployment("web", "1.0.0"), at(0))
        .await
        .unwrap();
    assert_eq!(created.created_at, at(0));
    assert_eq!(created.updated_at, at(0));

    let moved = Deployment {
        image: "registry.example:5000/web".to_owned(),
        current_tag: "1.1.0".to_owned(),
        current_digest: None,
        policy: Policy::AutoMinor,
        source: DeploymentSource::Label,
        ..deployment("web", "")
    };
    let updated = store.upsert_deployment(&moved, at(10)).await.unwrap();
    assert_eq!(updated.deployment, moved);
    assert_eq!(updated.created_at, at(0));
    assert_eq!(updated.updated_at, at(10));
    assert_eq!(store.deployment("web").await.unwrap(), Some(updated));
    assert_eq!(store.deployment("nope").await.unwrap(), None);

    store
        .upsert_deployment(&deployment("api", "2.0.0"), at(20))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .deployments()
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.deployment.id)
        .collect();
    assert_eq!(ids, ["api", "web"]);
}

async fn set_policy_changes_only_the_policy(db: &TestDb) {
    let store = db.open().await;
    store
        .upsert_deployment(&deployment("web", "1.0.0"), at(0))
        .await
        .unwrap();
    store
        .set_policy("web", Policy::Disabled, at(5))
        .await
        .unwrap();
    let record = store.deployment("web").await.unwrap().unwrap();
    assert_eq!(
        record.deployment,
        Deployment {
            policy: Policy::Disabled,
            ..deployment("web", "1.0.0")
        }
    );
    assert_eq!((record.created_at, record.updated_at), (at(0), at(5)));
}

async fn writes_for_an_unknown_deployment_say_so(db: &TestDb) {
    let store = db.open().await;
    let errors = [
        store
            .set_policy("ghost", Policy::AutoMajor, at(0))
            .await
            .unwrap_err(),
        store
            .record_check("ghost", &check(at(0), "1.0.0", None))
            .await
            .unwrap_err(),
    ];
    for error in errors {
        assert!(
            matches!(&error, StoreError::UnknownDeployment { id } if id == "ghost"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "no deployment `ghost` in the database: store it with `upsert_deployment` first"
        );
    }
}

async fn mark_notified_is_true_once(db: &TestDb) {
    let store = db.open().await;
    assert!(
        store
            .mark_notified("web/1.0.1/available", at(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_notified("web/1.0.1/available", at(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_notified("web/1.0.2/available", at(2))
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_notified("api/1.0.1/available", at(3))
            .await
            .unwrap()
    );
}

async fn mark_notified_is_true_once_under_concurrency(db: &TestDb) {
    let store = db.open().await;
    let senders: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .mark_notified("web/1.0.1/update_applied", at(0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut claimed = 0;
    for sender in senders {
        claimed += usize::from(sender.await.unwrap());
    }
    assert_eq!(claimed, 1);
}

async fn events_page_in_order(db: &TestDb) {
    let store = db.open().await;
    let kinds = [
        EventKind::Applied,
        EventKind::Waiting,
        EventKind::RolledBack,
        EventKind::Recovered,
        EventKind::PolicyChanged,
    ];
    let mut ids = Vec::new();
    for (seconds, kind) in (0..).zip(kinds) {
        ids.push(
            store
                .append_event(&event(seconds, "web", kind))
                .await
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");

    let mut pages = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.events(cursor, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.id;
        pages.push(
            page.iter()
                .map(|record| record.event.kind)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        pages,
        [
            vec![kinds[0], kinds[1]],
            vec![kinds[2], kinds[3]],
            vec![kinds[4]]
        ]
    );

    let all = store.events(0, 10).await.unwrap();
    assert_eq!(all.iter().map(|record| record.id).collect::<Vec<_>>(), ids);
    assert_eq!(all[0].event, event(0, "web", kinds[0]));
    assert_eq!(store.events(ids[4], 10).await.unwrap(), []);
    assert_eq!(store.events(0, 0).await.unwrap(), []);
}

/// Issue 11: a tag pushed again with other content is another image. Its first sighting is
/// its own (a minimum age counts afresh).
async fn a_tag_pushed_again_is_another_image(db: &TestDb) {
    let store = with_api_and_web(db, at(0)).await;
    const FIRST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const AGAIN: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    for (seconds, digest) in [(10, FIRST), (20, FIRST), (30, AGAIN), (40, AGAIN)] {
        let recorded = Check {
            target_digest: Some(digest.to_owned()),
            ..check(at(seconds), "1.0.0", Some("1.0.1"))
        };
        store.record_check("web", &recorded).await.unwrap();
    }
    let seen = |digest| store.first_seen("web", "1.0.1", Some(digest));
    assert_eq!(seen(FIRST).await.unwrap(), Some(at(10)));
    assert_eq!(seen(AGAIN).await.unwrap(), Some(at(30)));
    // Pruning keeps the first sighting of each image.
    store.prune_checks(at(35)).await.unwrap();
    assert_eq!(seen(FIRST).await.unwrap(), Some(at(10)));
    assert_eq!(seen(AGAIN).await.unwrap(), Some(at(30)));
    assert_eq!(
        store
            .last_check("web")
            .await
            .unwrap()
            .unwrap()
            .target_digest
            .as_deref(),
        Some(AGAIN)
    );
}

async fn last_check_returns_the_newest(db: &TestDb) {
    let store = with_api_and_web(db, at(0)).await;
    assert_eq!(store.last_check("web").await.unwrap(), None);

    let failed = Check {
        error: Some("registry answered 503".to_owned()),
        ..check(at(30), "1.0.0", None)
    };
    // Recorded out of order: the newest by time wins, not the last recorded.
    store
        .record_check("web", &check(at(10), "1.0.0", Some("1.0.1")))
        .await
        .unwrap();
    store.record_check("web", &failed).await.unwrap();
    store
        .record_check("web", &check(at(20), "1.0.0", Some("1.0.2")))
        .await
        .unwrap();
    store
        .record_check("api", &check(at(40), "1.0.0", Some("1.1.0")))
        .await
        .unwrap();
    assert_eq!(store.last_check("web").await.unwrap(), Some(failed));

    // Two at the same time: the one recorded last.
    let again = check(at(30), "1.0.0", Some("1.0.3"));
    store.record_check("web", &again).await.unwrap();
    assert_eq!(store.last_check("web").await.unwrap(), Some(again.clone()));

    // All at once, chosen the same way.
    let all = store.last_checks().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all["web"], again);
    assert_eq!(all["api"].result.target.as_deref(), Some("1.1.0"));

    // When each target was first chosen, whatever the order of recording.
    assert_eq!(
        store.first_seen("web", "1.0.2", None).await.unwrap(),
        Some(at(20))
    );
    assert_eq!(
        store.first_seen("web", "1.0.1", None).await.unwrap(),
        Some(at(10))
    );
    assert_eq!(store.first_seen("api", "1.0.1", None).await.unwrap(), None);
}

async fn pruning_keeps_the_checks_the_agent_reads(db: &TestDb) {
    let store = with_api_and_web(db, at(0)).await;
    let failed = Check {
        error: Some("registry answered 503".to_owned()),
        ..check(at(30), "1.0.0", None)
    };
    for recorded in [
        check(at(10), "1.0.0", Some("1.0.1")),
        check(at(20), "1.0.0", Some("1.0.1")),
        failed,
        check(at(40), "1.0.0", Some("1.0.2")),
        check(at(50), "1.0.0", Some("1.0.2")),
        check(at(60), "1.0.0", Some("1.0.2")),
    ] {
        store.record_check("web", &recorded).await.unwrap();
    }
    store
        .record_check("api", &check(at(5), "1.0.0", None))
        .await
        .unwrap();

    // Before 55: web's 20 (1.0.1 seen before), 30 (no target) and 50 (1.0.2 seen before)
    // go; web's 10 and 40 (each tag's first sighting) and api's only check stay.
    assert_eq!(store.prune_checks(at(55)).await.unwrap(), 3);
    assert_eq!(
        store.first_seen("web", "1.0.1", None).await.unwrap(),
        Some(at(10))
    );
    assert_eq!(
        store.first_seen("web", "1.0.2", None).await.unwrap(),
        Some(at(40))
    );
    assert_eq!(
        store.last_check("web").await.unwrap(),
        Some(check(at(60), "1.0.0", Some("1.0.2")))
    );
    assert_eq!(
        store.last_check("api").await.unwrap(),
        Some(check(at(5), "1.0.0", None))
    );
    // Nothing left to prune. Far later, once a newer check came, 60 goes too; each
    // deployment keeps its newest check and each tag its first sighting.
    assert_eq!(store.prune_checks(at(55)).await.unwrap(), 0);
    let newest = check(at(70), "1.0.2", None);
    store.record_check("web", &newest).await.unwrap();
    assert_eq!(store.prune_checks(at(10_000)).await.unwrap(), 1);
    assert_eq!(store.last_check("web").await.unwrap(), Some(newest));
    assert_eq!(
        store.last_check("api").await.unwrap(),
        Some(check(at(5), "1.0.0", None))
    );
    assert_eq!(
        store.first_seen("web", "1.0.1", None).await.unwrap(),
        Some(at(10))
    );
}

async fn timestamps_keep_microseconds(db: &TestDb) {
    let store = db.open().await;
    let precise = DateTime::from_timestamp(1_764_000_000, 123_456_789).unwrap();
    let micros = DateTime::from_timestamp(1_764_000_000, 123_456_000).unwrap();
    let record = store
        .upsert_deployment(&deployment("web", "1.0.0"), precise)
        .await
        .unwrap();
    assert_eq!(record.created_at, micros);
    let read = store.deployment("web").await.unwrap().unwrap();
    assert_eq!(read.created_at, micros);

    // Whole seconds sort before fractions of the same second (SQLite compares the text).
    store
        .record_check("web", &check(micros, "1.0.0", Some("1.0.2")))
        .await
        .unwrap();
    store
        .record_check("web", &check(at(0), "1.0.0", Some("1.0.1")))
        .await
        .unwrap();
    let last = store.last_check("web").await.unwrap().unwrap();
    assert_eq!(last.result.checked_at, micros);
}

async fn ping_answers(db: &TestDb) {
    let store = db.open().await;
    store.ping().await.unwrap();
    store.close().await;
    let error = store.ping().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "database error while answering a ping: check that the database is reachable and writable"
    );
}

// What belongs to one database, and failures to open.

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.is_file());
    store
        .upsert_deployment(&deployment("web", "1.0.0"), at(0))
        .await
        .unwrap();
    // WAL mode keeps a `-wal` file beside the database while it is open.
    assert!(dir.path().join("agent.db-wal").is_file());
    assert_eq!(
        format!("{store:?}"),
        format!(
            "Store {{ backend: Sqlite, location: {:?} }}",
            path.display().to_string()
        )
    );
    store.close().await;

    // The same file by plain path.
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    assert_eq!(store.deployments().await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_in_memory_lives_as_long_as_the_store() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    store
        .upsert_deployment(&deployment("web", "1.0.0"), at(0))
        .await
        .unwrap();
    let clone = store.clone();
    assert_eq!(clone.deployments().await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_in_a_missing_directory_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("agent.db");
    let error = Store::open(path.to_str().unwrap()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the SQLite database {}: check that its directory exists and is writable by this user",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    std::fs::write(
        &path,
        "not a database, but long enough to have a header of its own\n".repeat(10),
    )
    .unwrap();
    let error = Store::open(path.to_str().unwrap()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the SQLite database {}: the file is not an SQLite database; point the agent at another file",
            path.display()
        )
    );
}

#[tokio::test]
async fn unreachable_postgres_names_the_address_not_the_password() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let error = Store::open("postgres://upkeep:hunter2@127.0.0.1:1/agent")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot connect to PostgreSQL at 127.0.0.1:1: unreachable; check the URL and that the server runs and accepts TCP connections"
    );
    assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
}

#[tokio::test]
async fn postgres_missing_database_says_how_to_create_it() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.url().replace("/postgres", "/agent");
    let error = Store::open(&url).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot connect to PostgreSQL at {}: the database does not exist; create it (`createdb NAME`) or fix the URL",
            cluster.address()
        )
    );
}

#[tokio::test]
async fn postgres_store_debug_hides_the_password() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    // The cluster trusts loopback, so the password is accepted and ignored.
    let store = Store::open(&cluster.url_with_password("hunter2"))
        .await
        .unwrap();
    assert_eq!(
        format!("{store:?}"),
        format!(
            "Store {{ backend: Postgres, location: \"{}/postgres\" }}",
            cluster.address()
        )
    );
}

#[tokio::test]
async fn unsupported_schemes_are_named() {
    let error = Store::open("mysql://root@localhost/agent")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unsupported database URL scheme `mysql://`: use a file path, `sqlite://PATH` or `postgres://USER@HOST:PORT/DATABASE`"
    );
}
