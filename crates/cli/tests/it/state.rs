//! Bad state files through the real binary, without Docker or a registry: each error names
//! the file, the field or line, the problem and the fix, exits 2, and changes nothing.

use crate::upkeep;

const MANIFEST: &str = "version: 1
services:
  web:
    image: 127.0.0.1:5000/test/web
    current_tag: 1.0.0
    custom: false
    history:
    - tag: 1.0.0
      deployed_at: 2026-11-25T10:00:00Z
      reason: initial
";

fn run_in(dir: &std::path::Path, args: &[&str]) -> crate::Run {
    let dir = dir.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--dir", &dir]);
    upkeep(&all, "")
}

#[test]
fn a_broken_configuration_names_every_field_problem_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("version-manifest.yaml"), MANIFEST).unwrap();
    std::fs::write(
        dir.path().join("upkeep.yaml"),
        "deployments:\n  web:\n    image: 127.0.0.1:5000/test/web:1.0.0\n    policy: auto_pach\n    health:\n      retries: 0\n",
    )
    .unwrap();
    let run = run_in(dir.path(), &["status", "--offline"]);
    assert_eq!(run.code, 2, "{run}");
    let expected = format!(
        "error: {}/upkeep.yaml has 3 problems:
  deployments.web.image: '127.0.0.1:5000/test/web:1.0.0' is not an image repository; edit upkeep.yaml: write the repository without tag or digest, such as `127.0.0.1:5000/test/web`; the tag lives in version-manifest.yaml
  deployments.web.policy: 'auto_pach' is not a policy; edit upkeep.yaml: write one of disabled, notify_only, auto_patch, auto_minor, auto_major
  deployments.web.health.retries: is 0, so no check would ever run; edit upkeep.yaml: write 1 or more
",
        dir.path().display()
    );
    assert_eq!(run.stderr, expected);
}

#[test]
fn a_hand_broken_manifest_names_the_problem_and_the_backup_to_restore() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("version-manifest.yaml"), MANIFEST).unwrap();
    // A change makes a backup; then the manifest is broken by hand.
    let env = run_in(dir.path(), &["env"]);
    assert_eq!(env.code, 0, "{env}");
    let pin = run_in(dir.path(), &["pin", "web", "1.0.1", "--dry-run"]);
    assert_eq!(pin.code, 0, "{pin}");
    assert!(
        pin.stdout.contains("would set web from 1.0.0 to 1.0.1"),
        "{pin}"
    );
    let backups = dir.path().join(".version-backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(
        backups.join("version-manifest.yaml.20261125T100000.000000Z"),
        MANIFEST,
    )
    .unwrap();
    let broken = MANIFEST.replace("reason: initial", "reason: upgraded");
    std::fs::write(dir.path().join("version-manifest.yaml"), &broken).unwrap();
    let run = run_in(dir.path(), &["history"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("'upgraded' is not a reason"), "{run}");
    assert!(
        run.stderr.contains(&format!(
            "restore the newest backup with `cp {}",
            backups.display()
        )),
        "{run}"
    );
    // Nothing was rewritten.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("version-manifest.yaml")).unwrap(),
        broken
    );
}

#[test]
fn commands_without_a_manifest_say_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path(), &["status"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("create it with `upkeep init --from-running`"),
        "{run}"
    );
    let run = run_in(dir.path(), &["init"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("--compose"), "{run}");
}

/// Issue 11: `init --compose FILE --rewrite` points the written-out images at upkeep's
/// variables in the compose file itself: only those lines change (comments and layout stay),
/// the original is kept as a backup, and the change is printed as a diff.
#[test]
fn init_rewrite_points_the_compose_images_at_upkeeps_variables() {
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("docker-compose.yml");
    let original = "# the shop\nservices:\n  web:\n    image: 127.0.0.1:5000/test/web:1.0.0 # pinned by hand\n    ports: ['8080:8080']\n  db:\n    image: ${DB_IMAGE:-127.0.0.1:5000/test/db:15.4}\n    environment:\n      image: not-an-image-line\n  worker:\n    build: .\n";
    std::fs::write(&compose, original).unwrap();
    let compose_arg = compose.display().to_string();
    let init = run_in(
        dir.path(),
        &["init", "--compose", &compose_arg, "--rewrite"],
    );
    assert_eq!(init.code, 0, "{init}");
    let rewritten = std::fs::read_to_string(&compose).unwrap();
    assert_eq!(
        rewritten,
        // db uses its variable already (with a default): left as it is.
        original.replace(
            "image: 127.0.0.1:5000/test/web:1.0.0 # pinned by hand",
            "image: ${WEB_IMAGE} # pinned by hand"
        )
    );
    assert!(
        init.stdout.contains(
            "@@ line 4 @@\n-    image: 127.0.0.1:5000/test/web:1.0.0 # pinned by hand\n+    image: ${WEB_IMAGE} # pinned by hand\n"
        ),
        "{init}"
    );
    assert!(!init.stdout.contains("note: service web: change"), "{init}");
    let backup = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.to_string_lossy().ends_with(".bak"))
        .unwrap();
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    let env = std::fs::read_to_string(dir.path().join("versions.env")).unwrap();
    assert!(
        env.contains("WEB_IMAGE=127.0.0.1:5000/test/web:1.0.0")
            && env.contains("DB_IMAGE=127.0.0.1:5000/test/db:15.4"),
        "{env}"
    );
    // Nothing left to rewrite: a second run changes nothing.
    let again = run_in(
        dir.path(),
        &["init", "--compose", &compose_arg, "--rewrite"],
    );
    assert_eq!(again.code, 0, "{again}");
    assert!(!again.stdout.contains("rewrote"), "{again}");
}
