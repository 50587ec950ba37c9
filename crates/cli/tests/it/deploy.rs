//! End to end on this machine's Docker Engine: the `upkeep` binary updates, rolls back,
//! pins and resolves a real container pulled from a real registry on loopback, and
//! recovers from being killed at every step of an update.
//!
//! The web images (see `upkeep_test_registry::web`): 1.0.0 and 1.0.1 are healthy, 1.1.0's
//! health endpoint answers 500, 1.2.0 exits with status 3 at start.

use std::path::Path;
use std::time::{Duration, Instant};

use upkeep_test_registry::docker::{ComposeProject, compose_program, free_port};
use upkeep_test_registry::web::WebImages;
use upkeep_test_registry::{self as support, Auth, TestRegistry};

use crate::{Run, docker, docker_available, finish, spawn_upkeep, upkeep, upkeep_with_env};

/// A container of the web image with a volume, a state directory, and their cleanup.
struct Fixture {
    _registry: TestRegistry,
    images: WebImages,
    dir: tempfile::TempDir,
    container: String,
    volume: String,
    port: u16,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for name in [
            self.container.clone(),
            format!("{}-upkeep-old", self.container),
        ] {
            upkeep_test_registry::docker::remove_container(&name);
        }
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm", "-f", &self.volume])
            .output();
        let tags = ["1.0.0", "1.0.1", "1.1.0", "1.2.0", "latest", "hotfix-acme"];
        for tag in tags.iter().copied().chain(["upkeep-previous"]) {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "--force", &format!("{}:{tag}", self.images.image)])
                .output();
        }
    }
}

/// Starts `NAME` from 1.0.0 with a volume holding a file, and writes the manifest with
/// `upkeep init --from-running` and a configuration with an HTTP health check.
async fn fixture(name: &str) -> Option<Fixture> {
    if !docker_available() {
        return None;
    }
    let registry = support::registry(Auth::None).await?;
    let images = registry.push_web_images().await.unwrap();
    registry.alias_web_image("1.0.0", "latest").await.unwrap();
    registry
        .alias_web_image("1.0.1", "hotfix-acme")
        .await
        .unwrap();
    let container = format!("upkeep-e2e-{name}-{}", std::process::id());
    let port = free_port();
    let fixture = Fixture {
        _registry: registry,
        volume: format!("{container}-data"),
        images,
        dir: tempfile::tempdir().unwrap(),
        container,
        port,
    };
    docker(&[
        "run",
        "-d",
        "--name",
        &fixture.container,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "-v",
        &format!("{}:/data", fixture.volume),
        "--label",
        "team=web",
        "-e",
        "GREETING=hello",
        &format!("{}:1.0.0", fixture.images.image),
    ]);
    docker(&[
        "exec",
        &fixture.container,
        "sh",
        "-c",
        "echo kept > /data/keep",
    ]);
    let init = fixture.run(&["init", "--from-running", &fixture.container]);
    assert_eq!(init.code, 0, "{init}");
    let service = fixture.service();
    std::fs::write(
        fixture.dir.path().join("upkeep.yaml"),
        format!(
            "deployments:\n  {service}:\n    image: {image}\n    container: {container}\n    policy: auto_patch\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      expected_status: 200\n      timeout: 1s\n      retries: 8\n      interval: 250ms\n",
            image = fixture.images.image,
            container = fixture.container,
        ),
    )
    .unwrap();
    Some(fixture)
}

impl Fixture {
    fn service(&self) -> String {
        self.container.clone()
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let dir = self.dir().display().to_string();
        let mut all = args.to_vec();
        all.extend(["--dir", &dir]);
        upkeep_with_env(&all, "", env)
    }

    /// The tag the container was created from.
    fn running_tag(&self) -> String {
        let image = docker(&["inspect", "--format", "{{.Config.Image}}", &self.container]);
        image.rsplit(':').next().unwrap().to_owned()
    }

    fn is_running(&self) -> bool {
        docker(&["inspect", "--format", "{{.State.Running}}", &self.container]) == "true"
    }

    /// The body of the health endpoint (the version it serves), waiting for it briefly.
    fn serves(&self) -> String {
        let url = format!("http://127.0.0.1:{}/cgi-bin/health", self.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let output = std::process::Command::new("busybox")
                .args(["wget", "-q", "-O", "-", &url])
                .output()
                .unwrap();
            if output.status.success() {
                return String::from_utf8_lossy(&output.stdout).trim().to_owned();
            }
            assert!(Instant::now() < deadline, "{url} does not answer 200");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn manifest(&self) -> String {
        std::fs::read_to_string(self.dir().join("version-manifest.yaml")).unwrap()
    }

    fn current_tag(&self) -> String {
        let manifest = self.manifest();
        let line = manifest
            .lines()
            .find(|line| line.trim_start().starts_with("current_tag:"))
            .unwrap();
        line.split(':')
            .nth(1)
            .unwrap()
            .trim()
            .trim_matches('\'')
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_roll_back_by_themselves_when_the_new_version_is_sick() {
    let Some(fx) = fixture("flow").await else {
        return;
    };
    tokio::task::spawn_blocking(move || flow(&fx))
        .await
        .unwrap();
}

fn flow(fx: &Fixture) {
    let service = fx.service();
    let status = fx.run(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("1.0.0"), "{status}");
    assert!(
        status.stdout.contains("1.2.0   minor"),
        "newest eligible: {status}"
    );

    // check: updates exist, exit 10.
    let check = fx.run(&["check"]);
    assert_eq!(check.code, 10, "{check}");
    assert!(
        check
            .stdout
            .contains("1.0.0 -> 1.2.0 (minor); `upkeep update` applies 1.0.1"),
        "{check}"
    );

    // Without --yes and without a terminal, update refuses.
    let refused = fx.run(&["update"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("--yes"), "{refused}");

    // Dry run: says what it would do and changes nothing.
    let dry = fx.run(&["update", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry}");
    assert!(dry.stdout.contains("would update"), "{dry}");
    assert_eq!(fx.running_tag(), "1.0.0");

    // 1.0.0 -> 1.0.1, patch, allowed by auto_patch.
    let update = fx.run(&["update", "--yes"]);
    assert_eq!(update.code, 0, "{update}");
    assert!(
        update.stdout.contains("1.0.0 -> 1.0.1 (update), healthy"),
        "{update}"
    );
    assert_eq!(fx.running_tag(), "1.0.1");
    assert_eq!(fx.serves(), "1.0.1");
    assert_eq!(
        docker(&["exec", &fx.container, "busybox", "cat", "/data/keep"]),
        "kept",
        "the volume's data survives the update"
    );
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"team\"}}",
            &fx.container
        ]),
        "web"
    );
    let digest = docker(&[
        "inspect",
        "--format",
        "{{index .RepoDigests 0}}",
        &format!("{}:1.0.1", fx.images.image),
    ]);
    let digest = digest.split('@').nth(1).unwrap().to_owned();
    assert_eq!(digest, fx.images.digests["1.0.1"].to_string());
    assert!(fx.manifest().contains(&digest), "{}", fx.manifest());
    let env = std::fs::read_to_string(fx.dir().join("versions.env")).unwrap();
    assert!(env.contains(&format!("{}:1.0.1", fx.images.image)), "{env}");
    let history = fx.run(&["history", &service]);
    assert_eq!(history.code, 0, "{history}");
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert!(
        lines[1].contains("1.0.1") && lines[1].contains("[current]"),
        "{history}"
    );
    assert!(
        lines[2].contains("1.0.0") && lines[2].contains("[previous]"),
        "{history}"
    );

    // 1.1.0 is a minor update: held by auto_patch, with the way to apply it.
    let plan = fx.run(&["plan"]);
    assert_eq!(plan.code, 0, "{plan}");
    assert!(plan.stdout.contains("hold"), "{plan}");
    assert!(plan.stdout.contains("--latest"), "{plan}");

    // 1.1.0's health endpoint answers 500: rolled back by itself, exit 3.
    let sick = fx.run(&["update", "--to", "1.1.0", "--yes"]);
    assert_eq!(sick.code, 3, "{sick}");
    assert!(
        sick.stdout
            .contains("1.0.1 -> 1.1.0 failed: health check http GET")
            && sick.stdout.contains("answered 500, expected 200")
            && sick
                .stdout
                .contains("rolled back to 1.0.1, which runs again"),
        "{sick}"
    );
    assert_eq!(fx.running_tag(), "1.0.1");
    assert_eq!(fx.serves(), "1.0.1");
    assert_eq!(fx.current_tag(), "1.0.1");
    let history = fx.run(&["history", &service]);
    assert!(history.stdout.contains("[1.1.0 failed]"), "{history}");

    // The crashing 1.2.0 (newest with --latest; the failed 1.1.0 is skipped).
    let plan = fx.run(&["plan", "--latest"]);
    assert!(plan.stdout.contains("1.2.0"), "{plan}");
    let crash = fx.run(&["update", "--latest", "--yes"]);
    assert_eq!(crash.code, 3, "{crash}");
    assert!(crash.stdout.contains("exited with code 3"), "{crash}");
    assert_eq!(fx.running_tag(), "1.0.1");
    assert_eq!(fx.serves(), "1.0.1");
    assert_eq!(
        docker(&["exec", &fx.container, "busybox", "cat", "/data/keep"]),
        "kept"
    );
    // Both failures are skipped now.
    let plan = fx.run(&["plan", "--latest", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(plan[0]["action"], "up_to_date", "{plan}");
    assert!(
        plan[0]["why"].as_str().unwrap().contains("skipped"),
        "{plan}"
    );

    // rollback: to the version before 1.0.1, which is 1.0.0.
    // Like update, rollback asks first, and refuses without a terminal to ask on.
    let refused = fx.run(&["rollback"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(
        refused
            .stderr
            .contains("refusing to roll back 1 service(s) without confirmation")
            && refused.stderr.contains("--yes"),
        "{refused}"
    );
    assert_eq!(fx.running_tag(), "1.0.1");
    let rollback = fx.run(&["rollback", "--yes"]);
    assert_eq!(rollback.code, 0, "{rollback}");
    assert_eq!(fx.running_tag(), "1.0.0");
    assert_eq!(fx.serves(), "1.0.0");
    assert_eq!(fx.current_tag(), "1.0.0");

    // rollback --to a named version (alias downgrade).
    let to = fx.run(&["downgrade", "--to", "1.0.1", "--yes"]);
    assert_eq!(to.code, 0, "{to}");
    assert_eq!(fx.running_tag(), "1.0.1");
    assert_eq!(fx.serves(), "1.0.1");

    // pin --custom: a hotfix tag, shown [custom] and held by plans.
    let refused = fx.run(&["pin", &service, "hotfix-acme", "--custom"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(
        refused.stderr.contains(&format!(
            "refusing to set {service} to hotfix-acme without confirmation"
        )),
        "{refused}"
    );
    let pin = fx.run(&["pin", &service, "hotfix-acme", "--custom", "--yes"]);
    assert_eq!(pin.code, 0, "{pin}");
    assert_eq!(fx.running_tag(), "hotfix-acme");
    let status = fx.run(&["status", "--offline"]);
    assert!(status.stdout.contains("hotfix-acme [custom]"), "{status}");
    let history = fx.run(&["history", "--json"]);
    let history: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(history[0]["reason"], "set");

    // resolve: run `latest` (pushed as 1.0.0), then find its version by digest.
    let latest = fx.run(&["pin", &service, "latest", "--custom", "--yes"]);
    assert_eq!(latest.code, 0, "{latest}");
    assert_eq!(fx.running_tag(), "latest");
    let resolve = fx.run(&["resolve"]);
    assert_eq!(resolve.code, 0, "{resolve}");
    assert!(
        resolve.stdout.contains("latest is 1.0.0; recorded"),
        "{resolve}"
    );
    assert_eq!(fx.current_tag(), "1.0.0");
    assert!(
        fx.manifest()
            .contains(&fx.images.digests["1.0.0"].to_string())
    );
}

/// Issue 11: a command health check that never returns is a failed attempt when its time is
/// up; after its retries the update rolls back (exit 3) instead of hanging with the journal
/// on disk, and the probe's processes do not outlive it.
#[tokio::test(flavor = "multi_thread")]
async fn a_health_command_that_never_returns_fails_and_the_update_rolls_back() {
    let Some(fx) = fixture("hung").await else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        // A number no other process here sleeps for, to find the probe's processes by.
        let seconds = (100_000 + std::process::id()).to_string();
        std::fs::write(
            fx.dir().join("upkeep.yaml"),
            format!(
                "deployments:\n  {service}:\n    image: {image}\n    container: {container}\n    policy: auto_patch\n    health:\n      command: [sh, -c, 'sleep {seconds}; echo done']\n      timeout: 2s\n      retries: 2\n      interval: 250ms\n",
                service = fx.service(),
                image = fx.images.image,
                container = fx.container,
            ),
        )
        .unwrap();
        let update = fx.run(&["update", "--yes"]);
        assert_eq!(update.code, 3, "{update}");
        assert!(
            update.stdout.contains("1.0.0 -> 1.0.1 failed: health check command sh -c sleep")
                && update.stdout.contains("no answer within 2000 ms")
                && update.stdout.contains("rolled back to 1.0.0, which runs again"),
            "{update}"
        );
        assert_eq!(fx.running_tag(), "1.0.0");
        assert_eq!(fx.serves(), "1.0.0");
        assert!(
            !fx.dir().join(".upkeep-journal.json").exists(),
            "the journal is cleared"
        );
        let history = fx.run(&["history", &fx.service()]);
        assert!(history.stdout.contains("[1.0.1 failed]"), "{history}");
        let left = processes_running(&["sleep", &seconds]);
        assert!(left.is_empty(), "the probe's processes outlived it: {left:?}");
    })
    .await
    .unwrap();
}

/// Issue 11: one writer per state directory. While `upkeep update` installs a sick version,
/// `upkeep pull` and `upkeep recover` on the same directory wait for it (saying for whom)
/// instead of "recovering" the change under way; `--no-wait` exits 1 naming the holder. The
/// update still ends rolled back (exit 3), with exactly one container.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_writer_waits_for_the_update_under_way() {
    let Some(fx) = fixture("writers").await else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        // Long enough health checks of the sick 1.1.0 for the others to start meanwhile.
        std::fs::write(
            fx.dir().join("upkeep.yaml"),
            format!(
                "deployments:\n  {service}:\n    image: {image}\n    container: {container}\n    policy: auto_patch\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      expected_status: 200\n      timeout: 1s\n      retries: 16\n      interval: 250ms\n",
                service = fx.service(),
                image = fx.images.image,
                container = fx.container,
                port = fx.port,
            ),
        )
        .unwrap();
        let dir = fx.dir().display().to_string();
        let update = spawn_upkeep(&["update", "--to", "1.1.0", "--yes", "--dir", &dir]);
        let updating = update.id();
        let journal = fx.dir().join(".upkeep-journal.json");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !journal.exists() {
            assert!(Instant::now() < deadline, "the update never began");
            std::thread::sleep(Duration::from_millis(10));
        }
        let holder = format!("the update of {} by pid {updating}", fx.service());
        let refused = fx.run(&["pull", "--no-wait"]);
        assert_eq!(refused.code, 1, "{refused}");
        assert!(refused.stderr.contains(&holder), "{refused}");
        let pull = spawn_upkeep(&["pull", "--dir", &dir]);
        let recover = spawn_upkeep(&["recover", "--dir", &dir]);
        let update = finish(update, Duration::from_secs(300));
        let pull = finish(pull, Duration::from_secs(300));
        let recover = finish(recover, Duration::from_secs(300));
        assert_eq!(update.code, 3, "{update}");
        assert!(
            update
                .stdout
                .contains("rolled back to 1.0.0, which runs again"),
            "{update}"
        );
        for waited in [&pull, &recover] {
            assert_eq!(waited.code, 0, "{waited}");
            assert!(
                waited.stderr.contains(&format!("waiting for {holder}")),
                "{waited}"
            );
            assert!(!waited.stderr.contains("recovered"), "{waited}");
        }
        assert_eq!(fx.running_tag(), "1.0.0");
        assert_eq!(fx.serves(), "1.0.0");
        assert_eq!(fx.current_tag(), "1.0.0");
        let containers = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={}", fx.container),
            "--format",
            "{{.Names}}",
        ]);
        assert_eq!(containers, fx.container, "exactly one container");
        assert!(!journal.exists());
    })
    .await
    .unwrap();
}

/// Issue 11: what is pulled is what was planned, on the loopback registry and the real
/// engine. The plan pins the digest its tag names; when the tag names another image by the
/// time of the pull (here the `pre_update` hook pushes 1.1.0's image as 1.0.1, as a publisher
/// re-pushing a tag would), the update is refused with both digests and nothing is pulled or
/// changed. Planned again, the digest the tag names now is the one pulled.
#[tokio::test(flavor = "multi_thread")]
async fn a_tag_moved_between_plan_and_pull_is_refused() {
    let Some(fx) = fixture("moved").await else {
        return;
    };
    let short = |digest: &str| digest.trim_start_matches("sha256:")[..12].to_owned();
    let planned = short(fx.images.digests["1.0.1"].as_str());
    let moved_to = short(fx.images.digests["1.1.0"].as_str());
    tokio::task::spawn_blocking(move || {
        let image = fx.images.image.clone();
        let config = std::fs::read_to_string(fx.dir().join("upkeep.yaml")).unwrap();
        let hook = format!(
            "    hooks:\n      pre_update:\n        command: [skopeo, copy, --quiet, --src-tls-verify=false, --dest-tls-verify=false, 'docker://{image}:1.1.0', 'docker://{image}:1.0.1']\n        timeout: 1min\n"
        );
        std::fs::write(fx.dir().join("upkeep.yaml"), config + &hook).unwrap();

        let update = fx.run(&["update", "--yes"]);
        assert_eq!(update.code, 1, "{update}");
        let said = format!("{}{}", update.stdout, update.stderr);
        assert!(
            said.contains(&format!(
                "{image}:1.0.1 moved since the update was planned: it named {planned}, it names {moved_to} now"
            )) && said.contains("nothing was changed"),
            "{update}"
        );
        assert_eq!(fx.running_tag(), "1.0.0");
        assert_eq!(fx.serves(), "1.0.0");
        assert_eq!(fx.current_tag(), "1.0.0");
        let pulled = std::process::Command::new("docker")
            .args(["image", "inspect", &format!("{image}:1.0.1")])
            .output()
            .unwrap();
        assert!(!pulled.status.success(), "the moved tag was pulled");
        assert!(!fx.dir().join(".upkeep-journal.json").exists());

        // Planned again, 1.0.1 is what it names now (1.1.0's sick image): that digest is
        // pulled, and rolled back from.
        let again = fx.run(&["update", "--yes"]);
        assert_eq!(again.code, 3, "{again}");
        let now_named = fx.images.digests["1.1.0"].as_str();
        assert!(
            again
                .stderr
                .contains(&format!("pulling {image}@{now_named}")),
            "{again}"
        );
        assert_eq!(fx.running_tag(), "1.0.0");
        assert_eq!(fx.serves(), "1.0.0");
    })
    .await
    .unwrap();
}

/// The pids of the processes whose command line is exactly `words`, zombies left out.
fn processes_running(words: &[&str]) -> Vec<String> {
    let wanted = words.join("\0") + "\0";
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            let path = entry.path();
            std::fs::read(path.join("cmdline")).is_ok_and(|line| line == wanted.as_bytes())
                && std::fs::read_to_string(path.join("stat"))
                    .is_ok_and(|stat| !stat.contains(") Z "))
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_killed_at_any_step_is_finished_or_undone_by_the_next_run() {
    let Some(fx) = fixture("crash").await else {
        return;
    };
    tokio::task::spawn_blocking(move || crashes(&fx))
        .await
        .unwrap();
}

fn crashes(fx: &Fixture) {
    // (crash point, the version that runs and is recorded after recovery)
    let cases = [
        ("after-intent", "1.0.0"),
        ("after-pull", "1.0.0"),
        ("after-keep", "1.0.0"),
        ("after-stop", "1.0.0"),
        ("after-create", "1.0.0"),
        ("after-start", "1.0.0"),
        ("before-record", "1.0.1"),
        ("after-record", "1.0.1"),
    ];
    for (point, expected) in cases {
        assert_eq!(fx.current_tag(), "1.0.0", "before {point}");
        let killed = fx.run_with_env(
            &["update", "--to", "1.0.1", "--yes"],
            &[("UPKEEP_TEST_CRASH_AT", point)],
        );
        assert_ne!(killed.code, 0, "{point}: {killed}");
        assert!(
            killed.stderr.contains(&format!("crashing at {point}")),
            "{killed}"
        );
        assert!(
            fx.dir().join(".upkeep-journal.json").exists(),
            "{point}: the journal stays"
        );
        let recover = fx.run(&["recover"]);
        assert_eq!(recover.code, 0, "{point}: {recover}");
        assert!(
            !fx.dir().join(".upkeep-journal.json").exists(),
            "{point}: the journal is cleared"
        );
        assert!(fx.is_running(), "{point}: {recover}");
        assert_eq!(fx.running_tag(), expected, "{point}: {recover}");
        assert_eq!(fx.current_tag(), expected, "{point}: {recover}");
        assert_eq!(fx.serves(), expected, "{point}");
        assert_eq!(
            docker(&["exec", &fx.container, "busybox", "cat", "/data/keep"]),
            "kept",
            "{point}"
        );
        assert_eq!(
            docker(&[
                "ps",
                "-a",
                "--filter",
                &format!("name={}-upkeep-old", fx.container),
                "--format",
                "{{.Names}}"
            ]),
            "",
            "{point}: no leftover container"
        );
        if expected != "1.0.0" {
            let back = fx.run(&["rollback", "--to", "1.0.0", "--yes"]);
            assert_eq!(back.code, 0, "{back}");
        }
    }
    // A plain run recovers by itself too.
    let killed = fx.run_with_env(
        &["update", "--to", "1.0.1", "--yes"],
        &[("UPKEEP_TEST_CRASH_AT", "after-stop")],
    );
    assert_ne!(killed.code, 0);
    let status = upkeep(
        &[
            "rollback",
            "--dry-run",
            "--dir",
            &fx.dir().display().to_string(),
        ],
        "",
    );
    assert_eq!(status.code, 0, "{status}");
    let update = fx.run(&["update", "--to", "1.0.1", "--yes"]);
    assert_eq!(update.code, 0, "{update}");
    assert!(
        update.stderr.contains("recovered an interrupted update"),
        "{update}"
    );
    assert_eq!(fx.running_tag(), "1.0.1");
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_services_update_in_order_and_stay_updated() {
    if !docker_available() {
        return;
    }
    let Some(program) = compose_program() else {
        return;
    };
    let Some(registry) = support::registry(Auth::None).await else {
        return;
    };
    let images = registry.push_web_images().await.unwrap();
    tokio::task::spawn_blocking(move || compose_flow(program, &images))
        .await
        .unwrap();
    drop(registry);
}

fn compose_flow(program: Vec<&'static str>, images: &WebImages) {
    let root = tempfile::tempdir().unwrap();
    let project = format!("upkeep-compose-{}", std::process::id());
    let dir = root.path().join(&project);
    std::fs::create_dir(&dir).unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: '3.7'\nservices:\n  app:\n    image: ${{APP_IMAGE}}\n    depends_on: [web]\n  web:\n    image: ${{WEB_IMAGE}}\n    ports: ['127.0.0.1:{port}:8080']\n    volumes: ['data:/data']\nvolumes:\n  data: {{}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("versions.env"),
        format!(
            "WEB_IMAGE={image}:1.0.0\nAPP_IMAGE={image}:1.0.0\n",
            image = images.image
        ),
    )
    .unwrap();
    let compose = ComposeProject::new(program, dir.clone(), project);
    let up = compose.run(&["up", "-d"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let dir_arg = dir.display().to_string();
    let upkeep_in = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--dir", &dir_arg]);
        upkeep(&all, "")
    };
    let compose_file = dir.join("docker-compose.yml").display().to_string();
    let init = upkeep_in(&["init", "--compose", &compose_file]);
    assert_eq!(init.code, 0, "{init}");
    // The digests of what runs are recorded at init, so `status` shows them at once.
    let manifest = std::fs::read_to_string(dir.join("version-manifest.yaml")).unwrap();
    let digest = images.digests["1.0.0"].to_string();
    assert_eq!(
        manifest.matches(&format!("image_digest: {digest}")).count(),
        2,
        "{manifest}"
    );
    assert!(
        init.stdout.contains("app") && init.stdout.contains("web"),
        "{init}"
    );
    // Health for web; app has only the built-in running check.
    let config = std::fs::read_to_string(dir.join("upkeep.yaml")).unwrap();
    let config = config.replace(
        "  web:\n",
        &format!(
            "  web:\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      expected_status: 200\n      timeout: 1s\n      retries: 8\n      interval: 250ms\n"
        ),
    );
    std::fs::write(dir.join("upkeep.yaml"), config).unwrap();

    let update = upkeep_in(&["update", "--yes"]);
    assert_eq!(update.code, 0, "{update}");
    // Dependencies first: web before app.
    let web_at = update.stdout.find("web: 1.0.0 -> 1.0.1").unwrap();
    let app_at = update.stdout.find("app: 1.0.0 -> 1.0.1").unwrap();
    assert!(web_at < app_at, "{update}");
    assert_eq!(compose.image_of("web"), format!("{}:1.0.1", images.image));
    let env = std::fs::read_to_string(dir.join("versions.env")).unwrap();
    assert!(
        env.contains(&format!("WEB_IMAGE={}:1.0.1", images.image)),
        "{env}"
    );

    // A later `docker compose up -d` keeps the update: versions.env says 1.0.1.
    let again = compose.run(&["up", "-d"]);
    assert!(again.status.success());
    assert_eq!(compose.image_of("web"), format!("{}:1.0.1", images.image));

    // The sick 1.1.0 rolls back by itself through compose too.
    let sick = upkeep_in(&["update", "web", "--to", "1.1.0", "--yes"]);
    assert_eq!(sick.code, 3, "{sick}");
    assert!(sick.stdout.contains("answered 500"), "{sick}");
    assert_eq!(compose.image_of("web"), format!("{}:1.0.1", images.image));
    let env = std::fs::read_to_string(dir.join("versions.env")).unwrap();
    assert!(
        env.contains(&format!("WEB_IMAGE={}:1.0.1", images.image)),
        "{env}"
    );
}
