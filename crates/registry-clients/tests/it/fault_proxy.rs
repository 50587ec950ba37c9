//! A local HTTP proxy in front of a real registry that misbehaves on demand: it delays,
//! answers 429 with `Retry-After`, answers 500, cuts a body short, or swaps a manifest's
//! `Docker-Content-Digest`, for the first requests whose path contains a pattern; everything
//! else passes through unchanged.
//!
//! It speaks just enough HTTP/1.1 for the client under test: requests without bodies (GET and
//! HEAD), one response per connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a matching request.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// Waits before forwarding.
    Delay(Duration),
    /// Answers 429 with this `Retry-After` value, without forwarding.
    TooManyRequests(&'static str),
    /// Answers 500, without forwarding.
    ServerError,
    /// Forwards, then sends only half of the body (the `Content-Length` stays whole).
    Truncate,
    /// Forwards, with `Docker-Content-Digest` replaced by a digest of other bytes.
    WrongDigest,
}

struct Rule {
    path_contains: String,
    fault: Fault,
    remaining: usize,
}

/// The proxy; it stops when dropped.
pub(crate) struct FaultProxy {
    address: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy on a free loopback port forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub(crate) async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let task = {
            let (rules, seen) = (rules.clone(), seen.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (rules, seen) = (rules.clone(), seen.clone());
                    let (client, upstream) = (client.clone(), upstream.clone());
                    tokio::spawn(async move {
                        let _ = serve(stream, &client, &upstream, &rules, &seen).await;
                    });
                }
            })
        };
        Self {
            address,
            rules,
            seen,
            task,
        }
    }

    /// `127.0.0.1:PORT`, the host clients should use.
    pub(crate) fn host(&self) -> &str {
        &self.address
    }

    /// Applies `fault` to the next `times` requests whose path contains `path_contains`.
    pub(crate) fn inject(&self, path_contains: &str, fault: Fault, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            path_contains: path_contains.to_owned(),
            fault,
            remaining: times,
        });
    }

    /// `METHOD PATH` of every request received, in order.
    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn take_fault(rules: &Mutex<Vec<Rule>>, path: &str) -> Option<Fault> {
    let mut rules = rules.lock().unwrap();
    let rule = rules
        .iter_mut()
        .find(|rule| rule.remaining > 0 && path.contains(&rule.path_contains))?;
    rule.remaining -= 1;
    Some(rule.fault.clone())
}

async fn serve(
    mut stream: TcpStream,
    client: &reqwest::Client,
    upstream: &str,
    rules: &Mutex<Vec<Rule>>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or("GET").to_owned();
    let path = request_line.next().unwrap_or("/").to_owned();
    seen.lock().unwrap().push(format!("{method} {path}"));
    let headers: Vec<(String, String)> = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
        .collect();

    let fault = take_fault(rules, &path);
    match &fault {
        Some(Fault::Delay(wait)) => tokio::time::sleep(*wait).await,
        Some(Fault::TooManyRequests(retry_after)) => {
            let response = format!(
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Type: application/json\r\nContent-Length: 71\r\nConnection: close\r\n\r\n{{\"errors\":[{{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow down please\"}}]}}"
            );
            stream.write_all(response.as_bytes()).await?;
            return stream.shutdown().await;
        }
        Some(Fault::ServerError) => {
            stream
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await?;
            return stream.shutdown().await;
        }
        _ => {}
    }

    let mut request = client.request(
        method.parse().unwrap_or(reqwest::Method::GET),
        format!("{upstream}{path}"),
    );
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let Ok(response) = request.send().await else {
        stream
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await?;
        return stream.shutdown().await;
    };
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in response.headers() {
        let name = name.as_str();
        if matches!(name, "content-length" | "connection" | "transfer-encoding") {
            continue;
        }
        let value = value.to_str().unwrap_or_default();
        if name == "docker-content-digest" && matches!(fault, Some(Fault::WrongDigest)) {
            out.push_str(
                "docker-content-digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\r\n",
            );
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let content_length = response.content_length();
    let body = response.bytes().await.unwrap_or_default();
    let length = if method == "HEAD" {
        content_length.unwrap_or(0) as usize
    } else {
        body.len()
    };
    out.push_str(&format!(
        "content-length: {length}\r\nconnection: close\r\n\r\n"
    ));
    stream.write_all(out.as_bytes()).await?;
    if method != "HEAD" {
        let sent = if matches!(fault, Some(Fault::Truncate)) {
            &body[..body.len() / 2]
        } else {
            &body[..]
        };
        stream.write_all(sent).await?;
    }
    stream.shutdown().await
}
