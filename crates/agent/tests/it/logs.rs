//! What the `upkeep-agent` process writes to a log file: plain text without colour codes
//! (files and journald show escape codes as garbage), or one JSON object per line with
//! `--log-format json` for log shippers.

use std::time::Duration;

use crate::support::agent_process::AgentProcess;

/// Runs the agent with `args` until it serves, stops it, and returns what it logged. Its one
/// deployment points at a registry that refuses connections, so the first cycle logs too.
async fn logged(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let deployment = format!(
        "deployments:\n  web:\n    image: 127.0.0.1:9/team/web\n    container: agent-logs-never-started-{}\n    policy: auto_patch\n",
        std::process::id()
    );
    let mut agent = AgentProcess::start_in(dir.path(), &deployment, args).await;
    agent.signal("TERM");
    let status = agent.exited(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}:\n{}", agent.log());
    agent.log()
}

#[tokio::test(flavor = "multi_thread")]
async fn text_logs_to_a_file_carry_no_colour_codes() {
    let log = logged(&[]).await;
    assert!(log.contains("INFO"), "nothing logged:\n{log}");
    assert!(!log.contains('\x1b'), "colour codes in a file:\n{log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line() {
    let log = logged(&["--log-format", "json"]).await;
    let lines: Vec<&str> = log.lines().filter(|line| !line.is_empty()).collect();
    assert!(!lines.is_empty(), "nothing logged");
    for line in lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        assert!(
            object["level"].is_string() && object["fields"].is_object(),
            "{object}"
        );
    }
}
