//! Requests per second of the agent's HTTP API on loopback: `GET /health` (which pings the
//! database and the Docker Engine each time) and `GET /api/v1/deployments` (500 deployments
//! from SQLite), from 16 concurrent keep-alive clients for 5 s each.
//!
//! Run with `cargo run --release -p upkeep-benches --example api_load` (needs Docker for
//! /health to be healthy). A load test rather than a criterion benchmark: what matters is
//! throughput under concurrency, not one request's latency.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use upkeep_agent::config::AgentConfig;
use upkeep_agent::daemon::Daemon;
use upkeep_test_registry::docker::free_port;
use upkeep_update_engine::store::StateDir;
use upkeep_versioning_core::Timestamp;

const DEPLOYMENTS: usize = 500;
const CLIENTS: usize = 16;
const SECONDS: u64 = 5;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut config = format!("interval: 1h\nlisten: 127.0.0.1:{port}\n");
    let now = Timestamp::from(std::time::SystemTime::now());
    let manifest = upkeep_benches::notify_only_deployments(
        DEPLOYMENTS,
        |n| format!("127.0.0.1:9/load/app{}", n % 50),
        &mut config,
        now,
    );
    let file = dir.path().join("agent.yaml");
    std::fs::write(&file, config).unwrap();
    let config = AgentConfig::load(&file, &|_| None).unwrap();
    std::fs::create_dir_all(&config.state).unwrap();
    StateDir::new(&config.state).save(&manifest, now).unwrap();
    let daemon = Daemon::start(config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = daemon
        .serve(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for route in ["/health", "/api/v1/deployments"] {
        let url = format!("http://127.0.0.1:{port}{route}");
        let status = client.get(&url).send().await.unwrap().status();
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(SECONDS);
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (client, url, done) = (client.clone(), url.clone(), Arc::clone(&done));
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let response = client.get(&url).send().await.unwrap();
                        let _ = response.bytes().await.unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        let requests = done.load(Ordering::Relaxed);
        println!(
            "GET {route} ({status}): {requests} requests in {SECONDS} s from {CLIENTS} clients = {} per second",
            requests / SECONDS
        );
    }
    stop.send(()).unwrap();
    server.await.unwrap();
}
