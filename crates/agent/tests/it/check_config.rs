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
        .env_remove("UPKEEP_NTFY_URL")
        .env("UPKEEP_EMPTY_URL", "")
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

#[test]
fn a_public_listen_address_without_a_token_is_refused() {
    let (code, stdout, stderr) = check_config(
        "listen: 0.0.0.0:8686\nread_token: true\nallowed_hosts: [agent.internal, 'http://x:1']\n",
    );
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: agent.yaml has 3 problems:
  listen: 0.0.0.0:8686 is reachable from other machines, and `api_token_env` is not set; edit the agent's configuration file: set `api_token_env` to the environment variable that holds the API token (and `read_token: true` to protect reading too), or listen on 127.0.0.1:8686
  read_token: is true, but `api_token_env` is not set: there is no token to ask for; edit the agent's configuration file: set `api_token_env`, or remove `read_token`
  allowed_hosts[1]: 'http://x:1' is not a host name; edit the agent's configuration file: write the name clients use, without scheme or port, such as agent.internal
"
    );
}

#[test]
fn notification_urls_from_missing_or_empty_variables_are_named() {
    let (code, stdout, stderr) =
        check_config("labels: true\nnotify_env: [UPKEEP_NTFY_URL, UPKEEP_EMPTY_URL]\n");
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: agent.yaml has 2 problems:
  notify_env[0]: names the environment variable UPKEEP_NTFY_URL, which is not set; set it to one notification URL (`export UPKEEP_NTFY_URL=ntfy://ntfy.sh/my-topic`) before starting the agent, or remove it from `notify_env`
  notify_env[1]: names the environment variable UPKEEP_EMPTY_URL, which is empty; set it to one notification URL (`export UPKEEP_EMPTY_URL=ntfy://ntfy.sh/my-topic`) before starting the agent, or remove it from `notify_env`
"
    );
}

#[test]
fn every_unknown_key_and_a_wrong_time_zone_are_reported_at_once() {
    let (code, stdout, stderr) = check_config(
        "intervall: 30m\nlisten: 127.0.0.1:8686\nlables: true\nwebhooks:\n  token: x\ndeployments:\n  web:\n    image: registry.example/web\n    window: '* 2-4 * * *'\n    timezone: Europe/Berln\n",
    );
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: agent.yaml has 4 problems:
  intervall: is not a setting of the agent; edit the agent's configuration file: did you mean `interval`? `upkeep-agent config-reference` lists every key
  lables: is not a setting of the agent; edit the agent's configuration file: did you mean `labels`? `upkeep-agent config-reference` lists every key
  webhooks.token: is not a setting of the agent; edit the agent's configuration file: did you mean `webhooks.token_env`? `upkeep-agent config-reference` lists every key
  deployments.web.timezone: 'Europe/Berln' is not a time zone; edit the agent's configuration file: did you mean Europe/Berlin? (an IANA name, such as UTC)
"
    );
}

#[test]
fn the_configuration_reference_lists_every_key_with_its_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_upkeep-agent"))
        .arg("config-reference")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for key in [
        "interval",
        "listen",
        "api_token_env",
        "read_token",
        "allowed_hosts",
        "webhooks.quay_token_env",
        "notify_env",
        "deployments.NAME.timezone",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{key} "))),
            "{key} in:\n{text}"
        );
    }
    assert!(
        text.contains("how often each deployment is checked (default: 1h)"),
        "{text}"
    );
    // Every key it lists is one the agent reads: none is reported unknown.
    let mut file = String::new();
    for line in text.lines() {
        let key = line.split_whitespace().next().unwrap();
        if !key.contains('.') && !["projects", "deployments"].contains(&key) {
            file.push_str(&format!("{key}: null\n"));
        }
    }
    let (_, _, stderr) = check_config(&file);
    assert!(!stderr.contains("is not a setting"), "{file}\n{stderr}");
}
