//! One agent cycle over 500 deployments of 50 repositories on the loopback registry: the
//! registry requests the first cycle sends (printed), and the time a cycle takes
//! (criterion). Every deployment is `notify_only`, so a cycle checks and announces but
//! changes no container: what is measured is the agent's own work, the registry round trips
//! and the database.
//!
//! Run with `cargo bench -p upkeep-benches --bench agent_cycle` (needs the registry tools
//! that `scripts/test` installs; no Docker).
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use upkeep_agent::agent::Agent;
use upkeep_agent::config::AgentConfig;
use upkeep_agent::store::Store;
use upkeep_registry_clients::credentials::CredentialStore;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig};
use upkeep_test_registry::{self as support, Auth};
use upkeep_update_engine::engine::Engine;
use upkeep_update_engine::store::StateDir;
use upkeep_versioning_core::{Clock, ManualClock, Timestamp};

const DEPLOYMENTS: usize = 500;
const REPOSITORIES: usize = 50;

fn cycle(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(registry) = runtime.block_on(support::registry(Auth::None)) else {
        return;
    };
    runtime.block_on(async {
        registry.push_web_images().await.unwrap();
        for repository in 0..REPOSITORIES {
            for tag in ["1.0.0", "1.0.1", "1.1.0"] {
                registry
                    .copy_web_image(tag, &format!("load/app{repository}"), tag)
                    .await
                    .unwrap();
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from("interval: 1h\n");
    let start = Timestamp::from_timestamp(1_790_000_000, 0).unwrap();
    let manifest = upkeep_benches::notify_only_deployments(
        DEPLOYMENTS,
        |n| format!("{}/load/app{}", registry.host(), n % REPOSITORIES),
        &mut config,
        start,
    );
    let file = dir.path().join("agent.yaml");
    std::fs::write(&file, config).unwrap();
    let config = AgentConfig::load(&file, &|_| None).unwrap();
    std::fs::create_dir_all(&config.state).unwrap();
    StateDir::new(&config.state).save(&manifest, start).unwrap();
    let router = Arc::new(
        RegistryRouter::new(
            RouterConfig::default(),
            Arc::new(CredentialStore::from_process().unwrap()),
        )
        .unwrap(),
    );
    let clock = Arc::new(ManualClock::new(start));
    let engine = Engine::builder(&config.state, router.clone())
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build_with(config.deployments.clone());
    let store = runtime.block_on(Store::open(&config.database)).unwrap();
    let agent = Agent::new(config, engine, store, None).with_clock(Arc::clone(&clock) as _);
    let none = BTreeSet::new();

    let began = Instant::now();
    let report = runtime.block_on(agent.cycle(&none)).unwrap();
    let first = began.elapsed();
    let requests: u32 = runtime.block_on(router.requests_sent()).values().sum();
    assert_eq!(
        report.steps.len(),
        2 * DEPLOYMENTS,
        "checked and announced each"
    );
    eprintln!(
        "first cycle over {DEPLOYMENTS} deployments of {REPOSITORIES} repositories: {first:?}, {requests} registry requests"
    );

    let mut group = c.benchmark_group("agent_cycle");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("500_deployments_cached", |b| {
        b.iter(|| {
            // Each cycle two hours after the last, so every deployment is due again.
            clock.advance(chrono::TimeDelta::hours(2));
            runtime.block_on(agent.cycle(&none)).unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, cycle);
criterion_main!(benches);
