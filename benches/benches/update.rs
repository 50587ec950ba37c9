//! One update of a running service on this machine's Docker Engine, through upkeep's engine
//! and through `docker-compose up -d`, and how long the service is unreachable meanwhile.
//!
//! Run with `cargo bench -p upkeep-benches --bench update` (needs Docker, docker-compose and
//! the registry tools that `scripts/test` installs). Each iteration moves the service between
//! the healthy web images 1.0.0 and 1.0.1 of a loopback registry; both images are pulled
//! before timing, as they would be on a host that updates regularly.
//!
//! - `upkeep`: the whole safe path: registry check by the pull, rollback point, recreate
//!   with the same configuration, HTTP health check, manifest and versions.env written.
//! - `compose_up`: `docker-compose up -d web` after changing versions.env: recreate only.
//! - `compose_up_until_healthy`: the same, then waiting until the health endpoint answers,
//!   which is what upkeep's figure includes.
//!
//! While `upkeep` and `compose_up_until_healthy` run, a poller asks the health endpoint every
//! 2 ms; at the end the bench prints the median and longest time the service did not answer
//! per update.
//!
//! Measured on the 2-core build machine (Docker 20.10, fuse-overlayfs), medians: upkeep
//! 1.21 s, `compose_up` 0.72 s (it returns before the service answers), compose until
//! healthy 1.50 s; unreachable per update: upkeep 1.18 s (longest 1.21 s), compose 1.21 s
//! (longest 1.25 s). With an image whose PID 1 ignores SIGTERM, both wait Docker's 10 s stop
//! timeout (11.3 s and 11.6 s) and are unreachable for the same 1.2 s.
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use upkeep_registry_clients::credentials::CredentialStore;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig};
use upkeep_test_registry::docker::{ComposeProject, compose_program, free_port, run as docker};
use upkeep_test_registry::{self as support, Auth};
use upkeep_update_engine::engine::{Engine, OutcomeKind};
use upkeep_update_engine::runtime::DockerRuntime;
use upkeep_update_engine::setup;
use upkeep_update_engine::store::StateDir;

/// Whether the health endpoint answers 200 now.
fn healthy(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream
        .write_all(b"GET /cgi-bin/health HTTP/1.0\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// Polls the endpoint every 2 ms and records each stretch of time it did not answer.
struct Outages {
    stop: Arc<AtomicBool>,
    gaps: Arc<Mutex<Vec<Duration>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Outages {
    fn watch(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let gaps = Arc::new(Mutex::new(Vec::new()));
        let (stop_flag, recorded) = (Arc::clone(&stop), Arc::clone(&gaps));
        let thread = std::thread::spawn(move || {
            let mut down_since: Option<Instant> = None;
            while !stop_flag.load(Ordering::Relaxed) {
                match (healthy(port), down_since) {
                    (false, None) => down_since = Some(Instant::now()),
                    (true, Some(since)) => {
                        recorded.lock().unwrap().push(since.elapsed());
                        down_since = None;
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Self {
            stop,
            gaps,
            thread: Some(thread),
        }
    }

    fn report(mut self, what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let mut gaps = self.gaps.lock().unwrap().clone();
        gaps.sort();
        match (gaps.first(), gaps.last()) {
            (Some(_), Some(longest)) => eprintln!(
                "{what}: unreachable {} times; median {:?}, longest {:?}",
                gaps.len(),
                gaps[gaps.len() / 2],
                longest
            ),
            _ => eprintln!("{what}: never unreachable"),
        }
    }
}

fn update(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(registry) = runtime.block_on(support::registry(Auth::None)) else {
        return;
    };
    let images = runtime.block_on(registry.push_web_images()).unwrap();
    for tag in ["1.0.0", "1.0.1"] {
        docker(&["pull", "-q", &format!("{}:{tag}", images.image)]);
    }
    let mut group = c.benchmark_group("one_update");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));

    // upkeep's engine on a plain container.
    let container = format!("upkeep-bench-{}", std::process::id());
    let port = free_port();
    docker(&[
        "run",
        "-d",
        "--name",
        &container,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &format!("{}:1.0.0", images.image),
    ]);
    let state = tempfile::tempdir().unwrap();
    let now = upkeep_versioning_core::Timestamp::from(std::time::SystemTime::now());
    let initial = runtime.block_on(async {
        let docker = DockerRuntime::connect().await.unwrap();
        setup::from_running(&docker, std::slice::from_ref(&container), now)
            .await
            .unwrap()
    });
    setup::write(&StateDir::new(state.path()), &initial, false, now).unwrap();
    std::fs::write(
        state.path().join("upkeep.yaml"),
        format!(
            "deployments:\n  {container}:\n    image: {}\n    container: {container}\n    policy: auto_patch\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      expected_status: 200\n      timeout: 1s\n      retries: 40\n      interval: 50ms\n",
            images.image
        ),
    )
    .unwrap();
    let router = RegistryRouter::new(
        RouterConfig::default(),
        Arc::new(CredentialStore::from_process().unwrap()),
    )
    .unwrap();
    let engine = Engine::builder(state.path(), Arc::new(router))
        .build()
        .unwrap();
    let outages = Outages::watch(port);
    let mut newer = true;
    group.bench_function("upkeep", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let tag = if newer { "1.0.1" } else { "1.0.0" };
                newer = !newer;
                let start = Instant::now();
                let outcome = runtime
                    .block_on(engine.pin(&container, tag, false, false))
                    .unwrap();
                total += start.elapsed();
                assert_eq!(outcome.result, OutcomeKind::Changed, "{}", outcome.message);
            }
            total
        });
    });
    outages.report("upkeep update");
    upkeep_test_registry::docker::remove_container(&container);

    // The same change through docker-compose.
    if let Some(program) = compose_program() {
        let root = tempfile::tempdir().unwrap();
        let port = free_port();
        let project = ComposeProject::web(
            program,
            root.path(),
            &format!("upkeep-bench-compose-{}", std::process::id()),
            &format!("{}:1.0.0", images.image),
            port,
        );
        let compose = |args: &[&str]| {
            let output = project.run(args);
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let set = |tag: &str| project.set_web_image(&format!("{}:{tag}", images.image));
        compose(&["up", "-d"]);
        for (name, wait) in [("compose_up", false), ("compose_up_until_healthy", true)] {
            // Without waiting, the next iteration replaces a container that has not come up
            // yet: the service is down throughout, so only the waiting variant is watched.
            let outages = wait.then(|| Outages::watch(port));
            let mut newer = true;
            group.bench_function(name, |b| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        set(if newer { "1.0.1" } else { "1.0.0" });
                        newer = !newer;
                        let start = Instant::now();
                        compose(&["up", "-d", "web"]);
                        while wait && !healthy(port) {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        total += start.elapsed();
                    }
                    total
                });
            });
            if let Some(outages) = outages {
                outages.report(name);
            }
        }
        compose(&["down", "-v"]);
    } else {
        eprintln!("SKIPPED compose: neither `docker compose` nor `docker-compose` runs");
    }
    group.finish();
    for tag in ["1.0.0", "1.0.1", "upkeep-previous"] {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &format!("{}:{tag}", images.image)])
            .output();
    }
}

criterion_group!(benches, update);
criterion_main!(benches);
