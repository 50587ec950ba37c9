//! A compose project the upkeep CLI manages, watched by the agent through the same files:
//! the agent updates `shop:web` through compose, writes the project's own manifest and
//! `versions.env` (so a later `docker compose up -d` keeps the update), rolls a sick version
//! back through the API, and says what is wrong with a project it cannot read.

use std::collections::BTreeSet;
use std::path::Path;

use upkeep_agent::config::AgentConfig;
use upkeep_agent::cycle::Step;
use upkeep_agent::daemon::Daemon;
use upkeep_test_registry::docker::{
    ComposeProject, available as docker_available, compose_program, free_port,
};
use upkeep_test_registry::{self as support, Auth};
use upkeep_update_engine::engine::OutcomeKind;
use upkeep_update_engine::setup;
use upkeep_update_engine::store::StateDir;
use upkeep_versioning_core::Timestamp;

fn env_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("versions.env")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_updates_a_compose_project_through_its_own_files() {
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
    let image = images.image.clone();
    let root = tempfile::tempdir().unwrap();
    // The directory's name is the compose project's.
    let port = free_port();
    let compose = ComposeProject::web(
        program,
        root.path(),
        &format!("upkeep-agent-shop-{}", std::process::id()),
        &format!("{image}:1.0.0"),
        port,
    );
    let dir = compose.dir.clone();
    let up = compose.run(&["up", "-d"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    // What `upkeep init --compose docker-compose.yml` does, then a health check for web.
    let now = Timestamp::from(std::time::SystemTime::now());
    let initial = setup::from_compose(&dir.join("docker-compose.yml"), &dir, now).unwrap();
    setup::write(&StateDir::new(&dir), &initial, false, now).unwrap();
    let config = std::fs::read_to_string(dir.join("upkeep.yaml")).unwrap();
    assert!(config.contains("policy: auto_patch"), "{config}");
    std::fs::write(
        dir.join("upkeep.yaml"),
        config.replace(
            "  web:\n",
            &format!(
                "  web:\n    health:\n      http: http://127.0.0.1:{port}/cgi-bin/health\n      timeout: 1s\n      retries: 8\n      interval: 250ms\n"
            ),
        ),
    )
    .unwrap();

    let agent_dir = tempfile::tempdir().unwrap();
    let file = agent_dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        format!(
            "interval: 24h\nlisten: 127.0.0.1:{}\nprojects:\n  shop:\n    directory: {}\n",
            free_port(),
            dir.display()
        ),
    )
    .unwrap();
    let config = AgentConfig::load(&file, &|_| None).unwrap();
    let daemon = Daemon::start(config).await.unwrap();
    let agent = daemon.agent();
    assert_eq!(
        agent.deployment_images(),
        [("shop:web".to_owned(), image.clone())]
    );

    // auto_patch: 1.0.1, through compose and the project's versions.env.
    let report = agent.cycle(&BTreeSet::new()).await.unwrap();
    assert_eq!(
        report.of("shop:web"),
        [
            &Step::Checked(Some("1.0.1".to_owned())),
            &Step::Applied("1.0.1".to_owned())
        ],
        "{report:#?}"
    );
    assert_eq!(compose.image_of("web"), format!("{image}:1.0.1"));
    assert!(
        env_of(&dir).contains(&format!("WEB_IMAGE={image}:1.0.1")),
        "{}",
        env_of(&dir)
    );
    let (manifest, _) = StateDir::new(&dir).load().unwrap().unwrap();
    assert_eq!(manifest.service("web").unwrap().current_tag(), "1.0.1");
    let stored = agent.store().deployment("shop:web").await.unwrap().unwrap();
    assert_eq!(stored.deployment.current_tag, "1.0.1");
    assert_eq!(stored.deployment.source.as_str(), "compose");
    // The user's own `docker compose up -d` keeps it.
    assert!(compose.run(&["up", "-d"]).status.success());
    assert_eq!(compose.image_of("web"), format!("{image}:1.0.1"));

    // Through the API's path: the sick 1.1.0 is rolled back through compose.
    let outcomes = agent
        .apply_now("shop:web", Some("1.1.0".to_owned()))
        .await
        .unwrap();
    assert_eq!(outcomes[0].result, OutcomeKind::RolledBack, "{outcomes:#?}");
    assert_eq!(compose.image_of("web"), format!("{image}:1.0.1"));
    assert!(env_of(&dir).contains(&format!("WEB_IMAGE={image}:1.0.1")));
    let unknown = agent.apply_now("shop:db", None).await.unwrap_err();
    assert!(
        unknown.to_string().contains("shop:web"),
        "names the known deployments: {unknown}"
    );
    drop(registry);
}

#[test]
fn a_project_the_cli_does_not_manage_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        "projects:\n  shop:\n    directory: shop\n    min_age: soon\n    colour: blue\n  'bad name':\n    directory: x\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("shop")).unwrap();
    let error = AgentConfig::load(&file, &|_| None).unwrap_err();
    let fields: Vec<&str> = error
        .problems
        .iter()
        .map(|problem| problem.field.as_str())
        .collect();
    assert!(fields.contains(&"projects.shop.directory"), "{error}");
    assert!(fields.contains(&"projects.shop.min_age"), "{error}");
    assert!(fields.contains(&"projects.shop.colour"), "{error}");
    assert!(fields.contains(&"projects.bad name"), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("run `upkeep init --compose FILE` in"),
        "{text}"
    );
}
