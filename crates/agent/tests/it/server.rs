//! The HTTP server of the real `upkeep-agent` binary under clients that hold connections:
//! idle ones do not crowd out `/health`, and a request that never finishes does not keep the
//! process from exiting on SIGTERM.

use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::support::agent_process::AgentProcess;

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_neither_block_health_nor_hold_the_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = AgentProcess::start_in(dir.path(), "", &[]).await;
    let address = agent.api().trim_start_matches("http://").to_owned();

    // A thousand connections opened and left silent.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    // One that sends half a request head and stops, and one whose body never comes: a request
    // in flight that only the shutdown deadline ends.
    let mut half_a_head = TcpStream::connect(&address).await.unwrap();
    half_a_head
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut no_body = TcpStream::connect(&address).await.unwrap();
    no_body
        .write_all(
            b"POST /webhooks/distribution?token=t HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();

    // The timeout is a hang guard only.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let health = client
        .get(format!("http://{address}/health"))
        .send()
        .await
        .unwrap_or_else(|error| panic!("no /health beside 1000 idle connections: {error}"));
    // 503 without a Docker Engine: answering is what counts here.
    assert!(
        [200, 503].contains(&health.status().as_u16()),
        "{}",
        health.status()
    );
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["database"], true, "{body}");

    agent.signal("TERM");
    // The shutdown deadline is 30 s and the request timeout 60 s: a bound between the two
    // shows which one ended the request without the body.
    let status = agent.exited(Duration::from_secs(50)).await;
    let log = agent.log();
    assert!(status.success(), "{status}:\n{log}");
    assert!(
        log.contains("requests still in flight at the shutdown deadline"),
        "{log}"
    );
    drop((idle, half_a_head, no_body));
}
