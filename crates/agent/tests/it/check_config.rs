//! `upkeep-agent check-config` through the real binary.

use std::process::Command;

fn check_config(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    std::fs::write(&file, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_upkeep-agent"))
        .arg("check-config")
        .arg(&file)
        .env_remove("UPKEEP_AGENT_TOKEN")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout)
            .unwrap()
            .replace(&file.display().to_string(), "agent.yaml"),
        String::from_utf8(output.stderr)
            .unwrap()
            .replace(&file.display().to_string(), "agent.yaml"),
    )
}

#[test]
fn a_valid_configuration_is_summarised() {
    let (code, stdout, stderr) = check_config(
        "interval: 30m\nlabels: true\ndeployments:\n  web:\n    image: registry.example/web\n    policy: auto_patch\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "agent.yaml: valid; 1 deployment(s), 0 project(s) and containers labelled upkeep.enable=true, checked every 1800 s\n"
    );
}

#[test]
fn each_problem_is_printed_with_its_field_and_fix() {
    let (code, stdout, stderr) = check_config(
        "api_token_env: UPKEEP_AGENT_TOKEN\ndeployments:\n  web:\n    image: registry.example/web\n    min_age: soon\n",
    );
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: agent.yaml has 2 problems:
  api_token_env: names the environment variable UPKEEP_AGENT_TOKEN, which is not set; set it (`export UPKEEP_AGENT_TOKEN=...`) before starting the agent, or remove `api_token_env`
  deployments.web.min_age: 'soon' is not a duration; write it like 500ms, 5s, 2min, 1h or 30d; edit the agent's configuration file
"
    );
}
