//! Notifications delivered to real receivers on loopback: a small HTTP server that records
//! every request (standing in for a webhook receiver, Slack, Discord and ntfy), a TCP port
//! that accepts and never answers, and a minimal SMTP server.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use upkeep_agent::notify::{Delivery, Notice, Notifier, RetryPolicy, Target};
use upkeep_versioning_core::UpdateKind;

/// Fast retries, so that the retry tests take milliseconds.
const QUICK: RetryPolicy = RetryPolicy {
    attempts: 3,
    first_backoff: Duration::from_millis(10),
    attempt_timeout: Duration::from_secs(5),
};

/// One request as the sink saw it.
#[derive(Debug)]
pub(crate) struct Request {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_default()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// An HTTP receiver on 127.0.0.1 that records requests and answers with scripted statuses.
pub(crate) struct Sink {
    address: SocketAddr,
    requests: mpsc::UnboundedReceiver<Request>,
}

struct SinkState {
    /// Statuses to answer with, in order; the last one repeats.
    statuses: Mutex<VecDeque<(u16, &'static str)>>,
    requests: mpsc::UnboundedSender<Request>,
}

impl Sink {
    pub(crate) async fn start() -> Self {
        Self::answering(&[(200, "")]).await
    }

    async fn answering(statuses: &[(u16, &'static str)]) -> Self {
        let (sender, requests) = mpsc::unbounded_channel();
        let state = Arc::new(SinkState {
            statuses: Mutex::new(statuses.iter().copied().collect()),
            requests: sender,
        });
        let router = axum::Router::new().fallback(record).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { address, requests }
    }

    pub(crate) fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.address)
    }

    /// The next request, waiting at most a few seconds for it.
    async fn next(&mut self) -> Request {
        tokio::time::timeout(Duration::from_secs(5), self.requests.recv())
            .await
            .expect("the sink got no request within 5s")
            .unwrap()
    }

    /// The requests received so far.
    pub(crate) fn received(&mut self) -> Vec<Request> {
        std::iter::from_fn(|| self.requests.try_recv().ok()).collect()
    }
}

async fn record(
    State(state): State<Arc<SinkState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let path = uri
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let _ = state.requests.send(Request {
        path,
        headers,
        body,
    });
    let mut statuses = state.statuses.lock().unwrap();
    let (status, body) = if statuses.len() > 1 {
        statuses.pop_front().unwrap()
    } else {
        statuses.front().copied().unwrap_or((200, ""))
    };
    (StatusCode::from_u16(status).unwrap(), body)
}

/// A port that accepts connections and never says a word.
async fn silent_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    address
}

fn at() -> DateTime<Utc> {
    "2026-01-02T03:04:05Z".parse().unwrap()
}

fn available() -> Notice {
    Notice::update_available(
        "web",
        "nginx",
        "1.0.1",
        "1.1.0",
        UpdateKind::Minor,
        Some("https://nginx.org/en/CHANGES-1.1".to_owned()),
        at(),
    )
}

fn rolled_back() -> Notice {
    Notice::update_rolled_back(
        "web",
        "nginx",
        "1.0.1",
        "1.1.0",
        UpdateKind::Minor,
        "health check http://web:8080/healthz answered 500 <html>",
        at(),
    )
}

fn notifier(urls: &[String], retry: RetryPolicy) -> Notifier {
    let targets = urls
        .iter()
        .map(|url| url.parse::<Target>().unwrap())
        .collect();
    Notifier::new(targets, retry).unwrap()
}

fn delivered(target: String, attempts: u32) -> Delivery {
    Delivery {
        target,
        ok: true,
        attempts,
        error: None,
    }
}

#[tokio::test]
async fn the_webhook_gets_every_field_and_the_text_as_json() {
    let mut sink = Sink::start().await;
    let url = sink.url("http", "/hooks/upkeep?token=abc&threshold=all");
    let deliveries = notifier(std::slice::from_ref(&url), QUICK)
        .send(&available())
        .await;

    assert_eq!(
        deliveries,
        [delivered(
            sink.url("http", "/hooks/upkeep?token=****&threshold=all"),
            1
        )]
    );
    let request = sink.next().await;
    assert_eq!(request.path, "/hooks/upkeep?token=abc");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.json(),
        json!({
            "kind": "update_available",
            "deployment": "web",
            "image": "nginx",
            "from": "1.0.1",
            "to": "1.1.0",
            "update": "minor",
            "message": "web: 1.0.1 → 1.1.0 available (minor)",
            "release_notes": "https://nginx.org/en/CHANGES-1.1",
            "at": "2026-01-02T03:04:05Z",
            "text": "web: 1.0.1 → 1.1.0 available (minor)\nrelease notes: https://nginx.org/en/CHANGES-1.1",
        })
    );
}

#[tokio::test]
async fn slack_and_discord_get_the_text() {
    let mut slack = Sink::start().await;
    let mut discord = Sink::start().await;
    let urls = [
        slack.url("slack+http", "/services/T000/B000/XSECRET"),
        discord.url("discord+http", "/api/webhooks/42/DSECRET"),
    ];
    let deliveries = notifier(&urls, QUICK).send(&rolled_back()).await;

    assert_eq!(
        deliveries,
        [
            delivered(slack.url("slack+http", "/services/T000/B000/****"), 1),
            delivered(discord.url("discord+http", "/api/webhooks/42/****"), 1),
        ]
    );
    let request = slack.next().await;
    assert_eq!(request.path, "/services/T000/B000/XSECRET");
    assert_eq!(
        request.json(),
        json!({
            "text": "web: 1.1.0 failed (health check http://web:8080/healthz answered 500 &lt;html&gt;); rolled back to 1.0.1"
        })
    );
    let request = discord.next().await;
    assert_eq!(request.path, "/api/webhooks/42/DSECRET");
    assert_eq!(
        request.json(),
        json!({
            "content": "web: 1.1.0 failed (health check http://web:8080/healthz answered 500 <html>); rolled back to 1.0.1",
            "allowed_mentions": { "parse": [] },
        })
    );
}

#[tokio::test]
async fn ntfy_gets_the_text_with_title_priority_and_tags() {
    let mut ntfy = Sink::start().await;
    let url = format!("ntfy+http://me:p%40ss@{}/upkeep-alerts", ntfy.address);
    let notifier = notifier(&[url], QUICK);

    let deliveries = notifier.send(&available()).await;
    assert_eq!(
        deliveries,
        [delivered(
            format!("ntfy+http://me:****@{}/****", ntfy.address),
            1
        )]
    );
    let request = ntfy.next().await;
    assert_eq!(request.path, "/upkeep-alerts");
    assert_eq!(
        request.text(),
        "web: 1.0.1 → 1.1.0 available (minor)\nrelease notes: https://nginx.org/en/CHANGES-1.1"
    );
    assert_eq!(request.header("title"), "upkeep: update available for web");
    assert_eq!(request.header("priority"), "default");
    assert_eq!(request.header("tags"), "arrow_up");
    assert_eq!(request.header("click"), "https://nginx.org/en/CHANGES-1.1");
    assert_eq!(request.header("content-type"), "text/plain; charset=utf-8");
    let credentials = base64::engine::general_purpose::STANDARD.encode("me:p@ss");
    assert_eq!(
        request.header("authorization"),
        format!("Basic {credentials}")
    );

    let failed = Notice::rollback_failed(
        "web",
        "nginx",
        "1.0.1",
        "1.1.0",
        UpdateKind::Minor,
        "image nginx:1.0.1 is gone",
        at(),
    );
    notifier.send(&failed).await;
    let request = ntfy.next().await;
    assert_eq!(
        request.text(),
        "ROLLBACK FAILED for web: going back from 1.1.0 to 1.0.1 failed (image nginx:1.0.1 is gone); it needs a person"
    );
    assert_eq!(request.header("title"), "upkeep: ROLLBACK FAILED for web");
    assert_eq!(request.header("priority"), "urgent");
    assert_eq!(request.header("tags"), "rotating_light");
    assert_eq!(request.header("click"), "");
}

#[tokio::test]
async fn thresholds_hold_back_small_updates_but_never_rollbacks() {
    let mut major = Sink::start().await;
    let mut minor = Sink::start().await;
    let mut all = Sink::start().await;
    let urls = [
        major.url("http", "/?threshold=major"),
        minor.url("http", "/?threshold=minor"),
        all.url("http", "/"),
    ];
    let notifier = notifier(&urls, QUICK);

    let patch = Notice::update_applied("web", "nginx", "1.0.0", "1.0.1", UpdateKind::Patch, at());
    let sent_to = |deliveries: Vec<Delivery>| -> Vec<String> {
        deliveries
            .into_iter()
            .map(|delivery| delivery.target)
            .collect()
    };
    assert_eq!(sent_to(notifier.send(&patch).await), [urls[2].clone()]);
    assert_eq!(
        sent_to(notifier.send(&available()).await),
        [urls[1].clone(), urls[2].clone()]
    );
    assert_eq!(sent_to(notifier.send(&rolled_back()).await), urls);

    let kinds = |sink: &mut Sink| -> Vec<String> {
        sink.received()
            .iter()
            .map(|request| request.json()["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&mut major), ["update_rolled_back"]);
    assert_eq!(
        kinds(&mut minor),
        ["update_available", "update_rolled_back"]
    );
    assert_eq!(
        kinds(&mut all),
        ["update_applied", "update_available", "update_rolled_back"]
    );
}

#[tokio::test]
async fn a_failing_target_is_retried_until_it_accepts() {
    let mut sink = Sink::answering(&[(500, ""), (500, ""), (200, "")]).await;
    let url = sink.url("http", "/");
    let deliveries = notifier(std::slice::from_ref(&url), QUICK)
        .send(&available())
        .await;

    assert_eq!(deliveries, [delivered(url, 3)]);
    assert_eq!(sink.received().len(), 3);
}

#[tokio::test]
async fn a_target_that_keeps_failing_is_given_up_after_three_attempts() {
    let mut sink = Sink::answering(&[(500, "database is locked")]).await;
    let url = sink.url("http", "/");
    let deliveries = notifier(std::slice::from_ref(&url), QUICK)
        .send(&available())
        .await;

    assert_eq!(
        deliveries,
        [Delivery {
            target: url,
            ok: false,
            attempts: 3,
            error: Some(
                "the target answered 500 Internal Server Error: database is locked".to_owned()
            ),
        }]
    );
    assert_eq!(sink.received().len(), 3);
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let mut sink = Sink::answering(&[(404, "no_service")]).await;
    let url = sink.url("slack+http", "/services/T/B/XSECRET");
    let deliveries = notifier(std::slice::from_ref(&url), QUICK)
        .send(&available())
        .await;

    assert_eq!(
        deliveries,
        [Delivery {
            target: sink.url("slack+http", "/services/T/B/****"),
            ok: false,
            attempts: 1,
            error: Some("the target answered 404 Not Found: no_service".to_owned()),
        }]
    );
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn an_unreachable_target_is_reported_without_its_token() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("discord+http://{closed}/api/webhooks/42/DSECRET");
    let deliveries = notifier(&[url], QUICK).send(&rolled_back()).await;

    let [delivery] = deliveries.as_slice() else {
        panic!("one delivery expected, got {deliveries:?}");
    };
    assert_eq!(
        delivery.target,
        format!("discord+http://{closed}/api/webhooks/42/****")
    );
    assert!(!delivery.ok);
    assert_eq!(delivery.attempts, 3);
    let error = delivery.error.as_deref().unwrap();
    assert!(error.starts_with("could not reach the target: "), "{error}");
    assert!(!error.contains("DSECRET"), "{error}");
}

#[tokio::test]
async fn a_silent_target_times_out_and_does_not_hold_up_the_others() {
    let silent = silent_port().await;
    let mut sink = Sink::start().await;
    let urls = [format!("http://{silent}/hook"), sink.url("http", "/hook")];
    let retry = RetryPolicy {
        attempts: 2,
        first_backoff: Duration::from_millis(10),
        attempt_timeout: Duration::from_secs(1),
    };
    let notifier = notifier(&urls, retry);
    let started = Instant::now();
    let sending = tokio::spawn(async move { notifier.send(&available()).await });

    sink.next().await;
    let reached_the_sink = started.elapsed();
    assert!(
        reached_the_sink < Duration::from_secs(1),
        "the sink was reached only after {reached_the_sink:?}, behind the silent target"
    );
    let deliveries = sending.await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        deliveries,
        [
            Delivery {
                target: urls[0].clone(),
                ok: false,
                attempts: 2,
                error: Some("no answer within 1s".to_owned()),
            },
            delivered(urls[1].clone(), 1),
        ]
    );
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(5)).contains(&took),
        "two attempts of 1s should take about 2s, took {took:?}"
    );
}

#[tokio::test]
async fn no_targets_means_no_deliveries() {
    let notifier = Notifier::new(Vec::new(), RetryPolicy::default()).unwrap();
    assert_eq!(notifier.send(&available()).await, []);
}

/// What a minimal SMTP server saw of one session.
#[derive(Debug, Default)]
struct SmtpSession {
    commands: Vec<String>,
    data: String,
}

/// A minimal SMTP server on 127.0.0.1 for one session: greeting, EHLO with `AUTH PLAIN
/// LOGIN`, AUTH, MAIL, RCPT (answered with `rcpt_reply`), DATA and QUIT.
async fn smtp_server(
    rcpt_reply: &'static str,
) -> (SocketAddr, tokio::task::JoinHandle<SmtpSession>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let session = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut session = SmtpSession::default();
        write
            .write_all(b"220 localhost ESMTP test\r\n")
            .await
            .unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            session.commands.push(line.clone());
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                "HELO" | "MAIL" | "RSET" | "NOOP" => b"250 ok\r\n",
                "AUTH" => b"235 2.7.0 authenticated\r\n",
                "RCPT" => rcpt_reply.as_bytes(),
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await.unwrap();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line == "." {
                            break;
                        }
                        session.data.push_str(&line);
                        session.data.push('\n');
                    }
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                }
                _ => b"502 not implemented\r\n",
            };
            write.write_all(reply).await.unwrap();
        }
        session
    });
    (address, session)
}

/// Undoes quoted-printable encoding, for bodies with characters such as `→`.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let mut bytes = Vec::new();
    let mut rest = joined.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'=' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn email_goes_through_an_smtp_server() {
    let (address, session) = smtp_server("250 ok\r\n").await;
    let url = format!(
        "smtp://bob:p%40ss@{address}/?from=Upkeep%20%3Cupkeep@example.com%3E&to=ops@example.com,dev+alerts@example.com"
    );
    let deliveries = notifier(&[url], QUICK).send(&available()).await;
    assert_eq!(
        deliveries,
        [delivered(
            format!(
                "smtp://bob:****@{address}/?from=Upkeep%20%3Cupkeep@example.com%3E&to=ops@example.com,dev+alerts@example.com"
            ),
            1
        )]
    );

    let session = session.await.unwrap();
    let plain = base64::engine::general_purpose::STANDARD.encode("\0bob\0p@ss");
    let commands: Vec<&str> = session
        .commands
        .iter()
        .map(String::as_str)
        .filter(|command| !command.starts_with("EHLO"))
        .collect();
    assert_eq!(
        commands,
        [
            format!("AUTH PLAIN {plain}").as_str(),
            "MAIL FROM:<upkeep@example.com>",
            "RCPT TO:<ops@example.com>",
            "RCPT TO:<dev+alerts@example.com>",
            "DATA",
            "QUIT",
        ]
    );
    let (headers, body) = session.data.split_once("\n\n").unwrap();
    let headers: Vec<&str> = headers.lines().collect();
    for expected in [
        "From: Upkeep <upkeep@example.com>",
        "To: ops@example.com, dev+alerts@example.com",
        "Subject: upkeep: update available for web",
        "Date: Fri, 02 Jan 2026 03:04:05 +0000",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        assert!(
            headers.contains(&expected),
            "no {expected:?} in {headers:#?}"
        );
    }
    let body = if headers.contains(&"Content-Transfer-Encoding: quoted-printable") {
        quoted_printable(body)
    } else {
        body.to_owned()
    };
    // The line break before the final `.` belongs to SMTP, not to the body.
    let body = body.strip_suffix('\n').unwrap();
    assert_eq!(
        body,
        "web: 1.0.1 → 1.1.0 available (minor)\n\
         \n\
         deployment: web\n\
         image: nginx\n\
         from: 1.0.1\n\
         to: 1.1.0\n\
         update: minor\n\
         release notes: https://nginx.org/en/CHANGES-1.1\n\
         at: 2026-01-02T03:04:05Z\n"
    );
}

#[tokio::test]
async fn a_refused_recipient_is_not_retried() {
    let (address, session) = smtp_server("550 5.1.1 no such user\r\n").await;
    let url = format!("smtp://{address}/?from=upkeep@example.com&to=nobody@example.com");
    let deliveries = notifier(std::slice::from_ref(&url), QUICK)
        .send(&rolled_back())
        .await;
    assert_eq!(
        deliveries,
        [Delivery {
            target: url,
            ok: false,
            attempts: 1,
            error: Some(
                "the SMTP server did not take the email: permanent error (550): 5.1.1 no such user"
                    .to_owned()
            ),
        }]
    );
    drop(session);
}

#[tokio::test]
async fn a_url_from_notify_env_is_notified_and_its_ntfy_topic_never_shown() {
    let mut ntfy = Sink::start().await;
    let url = format!("ntfy+http://{}/secret-topic-4f1a", ntfy.address);
    let config = upkeep_agent::config::AgentConfig::parse(
        "labels: true\nnotify: ['ntfy://ntfy.sh/other-topic-77c2']\nnotify_env: [UPKEEP_NTFY_URL]\n",
        std::path::Path::new("/etc/upkeep/agent.yaml"),
        &|name| (name == "UPKEEP_NTFY_URL").then(|| url.clone()),
    )
    .unwrap();
    assert_eq!(
        config.notify,
        ["ntfy://ntfy.sh/other-topic-77c2", url.as_str()]
    );
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("secret-topic") && !shown.contains("other-topic"),
        "{shown}"
    );
    let targets: Vec<Target> = config
        .notify
        .iter()
        .map(|url| url.parse().unwrap())
        .collect();
    let shown = format!("{targets:?} {}", targets[1]);
    assert!(!shown.contains("secret-topic"), "{shown}");
    assert!(shown.contains("ntfy://ntfy.sh/****"), "{shown}");

    let notifier = Notifier::new(vec![targets[1].clone()], QUICK).unwrap();
    let deliveries = notifier.send(&available()).await;
    assert_eq!(
        deliveries,
        [delivered(format!("ntfy+http://{}/****", ntfy.address), 1)]
    );
    assert_eq!(ntfy.next().await.path, "/secret-topic-4f1a");
}
