//! The generic OCI client against hostile registries: a tag list whose `Link` points at
//! another host, a redirect to another host or to plain HTTP, a token realm over plain HTTP,
//! bodies that never end (tag page, manifest, token, error) and manifests that do not match
//! their digest (sha256 and sha512). Each ends in a typed error with a clear message, no
//! tags or digest, and no credentials at any other host: that host is a second in-process
//! server that records what it receives.
//!
//! Endless bodies come from `EndlessServer`, a raw HTTP/1.1 server that streams without a
//! length until the client hangs up and counts the bytes it got onto the socket; wiremock
//! plays the other shapes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use upkeep_registry_clients::body::{MANIFEST_LIMIT, SMALL_LIMIT, TAG_PAGE_LIMIT};
use upkeep_registry_clients::credentials::Credential;
use upkeep_registry_clients::oci::OciRegistry;
use upkeep_registry_clients::transport::{Transport, TransportConfig, http_client};
use upkeep_registry_clients::{ErrorKind, Registry};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// How far past the cap the server may get before the client hangs up: what the kernel lets
/// the two socket buffers grow to (the largest `tcp_rmem` and `tcp_wmem`), plus a chunk in
/// flight. Anything more would mean the client read on past its cap.
fn socket_slack() -> u64 {
    let largest = |file: &str| {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|text| text.split_whitespace().last()?.parse::<u64>().ok())
            .unwrap_or(8 * 1024 * 1024)
    };
    largest("/proc/sys/net/ipv4/tcp_rmem") + largest("/proc/sys/net/ipv4/tcp_wmem") + 1024 * 1024
}

fn sha256(body: &str) -> String {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn sha512(body: &str) -> String {
    use sha2::Digest as _;
    let hex: String = sha2::Sha512::digest(body.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha512:{hex}")
}

fn basic() -> Credential {
    Credential::Basic {
        username: "user".to_owned(),
        password: "pass".to_owned(),
    }
}

fn oci_client(host: &str, credential: Option<Credential>) -> OciRegistry {
    client_with(host, credential, TransportConfig::default())
}

fn client_with(host: &str, credential: Option<Credential>, config: TransportConfig) -> OciRegistry {
    let config = TransportConfig {
        initial_backoff: Duration::from_millis(10),
        max_retries: 2,
        ..config
    };
    let http = http_client(&config).unwrap();
    let transport = Transport::new(host, http, Arc::new(config));
    OciRegistry::new(host, host, transport, credential)
}

/// A registry that asks for Basic credentials on `/v2/`, as a private registry does, so
/// that every later request carries `Authorization`.
async fn basic_registry() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", r#"Basic realm="r""#),
        )
        .mount(&server)
        .await;
    server
}

/// The other host: answers everything, records everything.
async fn other_host() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(MANIFEST, OCI_MANIFEST)
                .insert_header("Docker-Content-Digest", sha256(MANIFEST).as_str()),
        )
        .mount(&server)
        .await;
    server
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

#[tokio::test]
async fn a_tag_list_linking_to_another_host_is_refused_and_that_host_gets_nothing() {
    let registry = basic_registry().await;
    let elsewhere = other_host().await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"name":"test/app","tags":["1.0.0"]}"#)
                .insert_header(
                    "Link",
                    format!(
                        r#"<{}/v2/test/app/tags/list?last=1.0.0>; rel="next""#,
                        elsewhere.uri()
                    )
                    .as_str(),
                ),
        )
        .mount(&registry)
        .await;
    let client = oci_client(&registry.address().to_string(), Some(basic()));
    let error = client.list_tags("test/app").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::CrossOriginLink { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the next page link {}/v2/test/app/tags/list?last=1.0.0 leaves the registry at {}; \
             pages are only followed on the registry's own scheme, host and port, from {} for \
             repository 'test/app'",
            elsewhere.uri(),
            registry.uri(),
            registry.address()
        )
    );
    assert!(received(&elsewhere).await.is_empty());
    // The first page did carry the credentials: the registry itself is trusted with them.
    let pages = received(&registry).await;
    assert!(
        pages
            .iter()
            .any(|request| request.url.path() == "/v2/test/app/tags/list"
                && request.headers.contains_key("authorization"))
    );
}

#[tokio::test]
async fn a_redirect_to_another_host_carries_no_credentials() {
    let registry = basic_registry().await;
    let elsewhere = other_host().await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/manifests/1.0.0"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "Location",
            format!("{}/cdn/manifest", elsewhere.uri()).as_str(),
        ))
        .mount(&registry)
        .await;
    let client = oci_client(&registry.address().to_string(), Some(basic()));
    // A CDN answering for the registry is legitimate; only the credentials must stay home.
    let manifest = client.manifest("test/app", "1.0.0").await.unwrap();
    assert_eq!(manifest.digest.to_string(), sha256(MANIFEST));
    let requests = received(&elsewhere).await;
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn a_redirect_to_plain_http_elsewhere_is_refused_before_it_is_sent() {
    let registry = basic_registry().await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/manifests/1.0.0"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            "http://registry.example.invalid:5000/v2/test/app/manifests/1.0.0",
        ))
        .mount(&registry)
        .await;
    let client = oci_client(&registry.address().to_string(), Some(basic()));
    let error = client.manifest("test/app", "1.0.0").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::InsecureRefused { url } if url.starts_with("http://registry.example.invalid:5000/")),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "refusing plain HTTP to http://registry.example.invalid:5000/v2/test/app/manifests/1.0.0: \
             the host is not loopback; list it as an insecure registry (--insecure-registry HOST) \
             if you trust the network, from {} for repository 'test/app'",
            registry.address()
        )
    );
    // Refused by the policy, not retried as a network failure: one request for the manifest.
    let manifest_requests = received(&registry)
        .await
        .into_iter()
        .filter(|request| request.url.path().contains("/manifests/"))
        .count();
    assert_eq!(manifest_requests, 1);
}

#[tokio::test]
async fn a_token_realm_over_plain_http_elsewhere_is_refused() {
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            r#"Bearer realm="http://auth.example.invalid/token",service="registry""#,
        ))
        .mount(&registry)
        .await;
    let client = oci_client(&registry.address().to_string(), Some(basic()));
    let error = client.list_tags("test/app").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::InsecureRefused { url } if url == "http://auth.example.invalid/token"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "refusing plain HTTP to http://auth.example.invalid/token: the host is not loopback; \
             list it as an insecure registry (--insecure-registry HOST) if you trust the network, \
             from {} for repository 'test/app'",
            registry.address()
        )
    );
    // Listed as insecure, the same realm is asked (and fails to resolve, which is fine here).
    let config = TransportConfig {
        insecure_hosts: ["auth.example.invalid".to_owned()].into(),
        max_retries: 0,
        ..TransportConfig::default()
    };
    let client = client_with(&registry.address().to_string(), Some(basic()), config);
    let error = client.list_tags("test/app").await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Transport(_)), "{error}");
}

#[tokio::test]
async fn an_endless_tag_page_is_cut_off_at_its_cap() {
    let server = EndlessServer::start("/v2/test/app/tags/list", 200, br#"{"tags":["#).await;
    let client = oci_client(&server.host(), None);
    let error = client.list_tags("test/app").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::BodyTooLarge { limit, .. } if *limit == TAG_PAGE_LIMIT),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the response from http://{0}/v2/test/app/tags/list?n=1000 is larger than 16 MiB; \
             upkeep stops reading at that size, from {0} for repository 'test/app'",
            server.host()
        )
    );
    // The client read up to the cap and then hung up (a reader without a cap never would):
    // what the server got onto the socket is the cap plus what the socket buffers hold.
    let sent = server.sent_when_dropped().await;
    assert!(sent > TAG_PAGE_LIMIT, "{sent}");
    assert!(sent < TAG_PAGE_LIMIT + socket_slack(), "{sent}");
}

#[tokio::test]
async fn an_endless_manifest_is_cut_off_at_its_cap() {
    let server = EndlessServer::start(
        "/v2/test/app/manifests/1.0.0",
        200,
        br#"{"schemaVersion":2,"layers":["#,
    )
    .await;
    let client = oci_client(&server.host(), None);
    let error = client.manifest("test/app", "1.0.0").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::BodyTooLarge { limit, .. } if *limit == MANIFEST_LIMIT),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the response from http://{0}/v2/test/app/manifests/1.0.0 is larger than 4 MiB; \
             upkeep stops reading at that size, from {0} for repository 'test/app'",
            server.host()
        )
    );
    let sent = server.sent_when_dropped().await;
    assert!(sent < MANIFEST_LIMIT + socket_slack(), "{sent}");
    // A digest is resolved by GET when HEAD gives none: no digest from an endless body.
    let error = client
        .resolve_digest("test/app", "1.0.0")
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::BodyTooLarge { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_manifest_of_exactly_the_cap_is_read_and_one_byte_more_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    // JSON allows trailing whitespace, so padding keeps the manifest valid.
    let padded = |size: u64| MANIFEST.to_owned() + &" ".repeat(size as usize - MANIFEST.len());
    for (tag, body) in [
        ("at-cap", padded(MANIFEST_LIMIT)),
        ("over-cap", padded(MANIFEST_LIMIT + 1)),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/v2/test/app/manifests/{tag}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(body.clone(), OCI_MANIFEST)
                    .insert_header("Docker-Content-Digest", sha256(&body).as_str()),
            )
            .mount(&server)
            .await;
    }
    let client = oci_client(&server.address().to_string(), None);
    let manifest = client.manifest("test/app", "at-cap").await.unwrap();
    assert_eq!(manifest.digest.to_string(), sha256(&padded(MANIFEST_LIMIT)));
    let error = client.manifest("test/app", "over-cap").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the response from {}/v2/test/app/manifests/over-cap is larger than 4 MiB; upkeep \
             stops reading at that size, from {} for repository 'test/app'",
            server.uri(),
            server.address()
        )
    );
}

#[tokio::test]
async fn endless_token_and_error_bodies_are_cut_off_at_64_kib() {
    let server = EndlessServer::start("/token", 200, br#"{"token":""#).await;
    let client = oci_client(&server.host(), Some(basic()));
    let error = client.list_tags("bearer/app").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::BodyTooLarge { url, limit } if *limit == SMALL_LIMIT && url.contains("/token?")),
        "{error}"
    );
    assert!(
        error.to_string().contains(" is larger than 64 KiB; "),
        "{error}"
    );

    let server = EndlessServer::start("/v2/gone/app/tags/list", 404, b"<html>").await;
    let client = oci_client(&server.host(), None);
    let error = client.list_tags("gone/app").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the response from http://{0}/v2/gone/app/tags/list?n=1000 is larger than 64 KiB; \
             upkeep stops reading at that size, from {0} for repository 'gone/app'",
            server.host()
        )
    );
}

#[tokio::test]
async fn manifests_that_do_not_match_their_digest_are_refused_in_both_algorithms() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let host = server.address().to_string();
    let client = oci_client(&host, None);
    let serve = |reference: String, header: Option<String>| {
        let mut answer = ResponseTemplate::new(200).set_body_raw(MANIFEST, OCI_MANIFEST);
        if let Some(header) = header {
            answer = answer.insert_header("Docker-Content-Digest", header.as_str());
        }
        Mock::given(method("GET"))
            .and(path(format!("/v2/test/app/manifests/{reference}")))
            .respond_with(answer)
    };
    let other = "some other manifest";
    let cases = [
        // Asked by a sha512 digest of other bytes, with no header to compare.
        (sha512(other), None, sha512(other), sha512(MANIFEST)),
        // A tag whose announced sha512 digest is of other bytes.
        (
            "1.0.0".to_owned(),
            Some(sha512(other)),
            sha512(other),
            sha512(MANIFEST),
        ),
        // The same in sha256.
        (sha256(other), None, sha256(other), sha256(MANIFEST)),
        (
            "1.0.1".to_owned(),
            Some(sha256(other)),
            sha256(other),
            sha256(MANIFEST),
        ),
        // Asked by the right sha256 digest, but the header announces another.
        (
            sha256(MANIFEST),
            Some(sha512(other)),
            sha512(other),
            sha512(MANIFEST),
        ),
    ];
    for (reference, header, expected, actual) in cases {
        serve(reference.clone(), header).mount(&server).await;
        let error = client.manifest("test/app", &reference).await.unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::DigestMismatch { expected: e, actual: a } if *e == expected && *a == actual),
            "{reference}: {error}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "digest mismatch: expected {expected}, the body hashes to {actual}, from {host} \
                 for repository 'test/app'"
            ),
        );
    }

    // The honest answers pass, and a sha512 reference gives the manifest that digest.
    serve(sha512(MANIFEST), Some(sha256(MANIFEST)))
        .mount(&server)
        .await;
    let manifest = client
        .manifest("test/app", &sha512(MANIFEST))
        .await
        .unwrap();
    assert_eq!(manifest.digest.to_string(), sha512(MANIFEST));
    serve("2.0.0".to_owned(), Some(sha512(MANIFEST)))
        .mount(&server)
        .await;
    let manifest = client.manifest("test/app", "2.0.0").await.unwrap();
    assert_eq!(manifest.digest.to_string(), sha256(MANIFEST));
}

/// A raw HTTP/1.1 server: the endless path streams `prefix` and then `"x",` forever, with no
/// length, until the client hangs up; `/v2/` answers 401 with a Bearer challenge whose realm
/// is its own `/token` when that is the endless path; anything else answers `{}`. It stops
/// when dropped.
struct EndlessServer {
    address: String,
    sent: Arc<AtomicU64>,
    hung_up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EndlessServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EndlessServer {
    async fn start(endless_path: &'static str, status: u16, prefix: &'static [u8]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let sent = Arc::new(AtomicU64::new(0));
        let hung_up = Arc::new(AtomicBool::new(false));
        let task = {
            let (sent, hung_up, address) = (sent.clone(), hung_up.clone(), address.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (sent, hung_up, address) = (sent.clone(), hung_up.clone(), address.clone());
                    tokio::spawn(async move {
                        let endless = Endless {
                            path: endless_path,
                            status,
                            prefix,
                            sent: &sent,
                            hung_up: &hung_up,
                        };
                        let _ = serve(stream, &address, &endless).await;
                    });
                }
            })
        };
        Self {
            address,
            sent,
            hung_up,
            task,
        }
    }

    fn host(&self) -> String {
        self.address.clone()
    }

    /// The bytes the endless path got onto the socket, once the client has hung up on it.
    async fn sent_when_dropped(&self) -> u64 {
        for _ in 0..1000 {
            if self.hung_up.load(Ordering::SeqCst) {
                return self.sent.load(Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the client never hung up on the endless body");
    }
}

struct Endless<'a> {
    path: &'static str,
    status: u16,
    prefix: &'static [u8],
    sent: &'a AtomicU64,
    hung_up: &'a AtomicBool,
}

async fn serve(mut stream: TcpStream, address: &str, endless: &Endless<'_>) -> std::io::Result<()> {
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
    let target = text.split(' ').nth(1).unwrap_or("/").to_owned();
    let path = target.split('?').next().unwrap_or_default();
    if path == endless.path {
        let reason = if endless.status == 200 {
            "OK"
        } else {
            "Not Found"
        };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            endless.status
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(endless.prefix).await?;
        endless
            .sent
            .fetch_add(endless.prefix.len() as u64, Ordering::SeqCst);
        let chunk = "\"x\",".repeat(16 * 1024);
        loop {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                endless.hung_up.store(true, Ordering::SeqCst);
                return Ok(());
            }
            endless.sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    }
    let answer = if path == "/v2/" && endless.path == "/token" {
        format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{address}/token\",service=\"hostile\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    } else {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            .to_owned()
    };
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}
