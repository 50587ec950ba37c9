//! The generic OCI client against in-process servers playing the documented shapes of
//! registries: `Link` paging (Distribution 2.8 does not page, so the real registry cannot
//! show it), Bearer and Basic challenges, and faults on demand: 429 with `Retry-After`, 500s,
//! a digest that does not match the body, error bodies.

use std::sync::Arc;
use std::time::Duration;

use upkeep_registry_clients::core::{ManualClock, TimeDelta, Timestamp};
use upkeep_registry_clients::credentials::Credential;
use upkeep_registry_clients::oci::OciRegistry;
use upkeep_registry_clients::transport::{Transport, TransportConfig, http_client};
use upkeep_registry_clients::{ErrorKind, ManifestContent, Registry};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1e64b3c3a7e34a2f8c4b8d2a1c9b7e6f5d4c3b2a190817263544536271809abc","size":345,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:fef3b3c3a7e34a2f8c4b8d2a1c9b7e6f5d4c3b2a190817263544536271809abc","size":345,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0003b3c3a7e34a2f8c4b8d2a1c9b7e6f5d4c3b2a190817263544536271809abc","size":345,"platform":{"architecture":"unknown","os":"unknown"}}]}"#;

fn sha256(body: &str) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(body.as_bytes());
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

fn fast_config() -> TransportConfig {
    TransportConfig {
        initial_backoff: Duration::from_millis(10),
        max_retries: 2,
        ..TransportConfig::default()
    }
}

fn client(server: &MockServer, credential: Option<Credential>) -> OciRegistry {
    client_with(server, credential, fast_config())
}

fn client_with(
    server: &MockServer,
    credential: Option<Credential>,
    config: TransportConfig,
) -> OciRegistry {
    let host = server.address().to_string();
    let http = http_client(&config).unwrap();
    let transport = Transport::new(&host, http, Arc::new(config));
    OciRegistry::new(&host, &host, transport, credential)
}

async fn open_ping(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn tag_listing_follows_link_to_the_end() {
    let server = MockServer::start().await;
    open_ping(&server).await;
    let base = server.uri();
    // Page 1 links relatively, page 2 absolutely with an opaque parameter (Quay's style).
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .and(query_param("n", "1000"))
        .and(query_param_is_missing("last"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"name":"test/app","tags":["1.0.0","1.1.0"]}"#)
                .insert_header(
                    "Link",
                    r#"</v2/test/app/tags/list?n=1000&last=1.1.0>; rel="next""#,
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .and(query_param("last", "1.1.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"name":"test/app","tags":["1.1.0","2.0.0"]}"#)
                .insert_header(
                    "Link",
                    format!(r#"<{base}/v2/test/app/tags/list?next_page=opaque42>; rel="next""#),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .and(query_param("next_page", "opaque42"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"name":"test/app","tags":null}"#),
        )
        .mount(&server)
        .await;
    let registry = client(&server, None);
    let tags = registry.list_tags("test/app").await.unwrap();
    // Every page, in the registry's order, the repeated tag once.
    assert_eq!(tags, ["1.0.0", "1.1.0", "2.0.0"]);
    // One ping and three pages.
    assert_eq!(registry.transport().requests_sent(), 4);
}

#[tokio::test]
async fn bearer_tokens_are_fetched_once_per_scope_and_reused() {
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    let challenge = format!(r#"Bearer realm="{realm}",service="test-registry""#);
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(query_param("service", "test-registry"))
        .and(query_param("scope", "repository:test/app:pull"))
        .and(header("Authorization", "Basic dXNlcjpwYXNz"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"token":"t-123","expires_in":300,"issued_at":"2026-11-25T08:00:00Z"}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .and(header("Authorization", "Bearer t-123"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1.0.0"]}"#))
        .expect(2)
        .mount(&server)
        .await;
    let credential = Credential::Basic {
        username: "user".to_owned(),
        password: "pass".to_owned(),
    };
    let registry = client(&server, Some(credential));
    assert_eq!(registry.list_tags("test/app").await.unwrap(), ["1.0.0"]);
    assert_eq!(registry.list_tags("test/app").await.unwrap(), ["1.0.0"]);
    // The token was asked for once (the `expect(1)` is checked when the server drops).
}

#[tokio::test]
async fn bearer_tokens_are_renewed_shortly_before_they_expire() {
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    let challenge = format!(r#"Bearer realm="{realm}",service="svc""#);
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"token":"t-300","expires_in":300}"#),
        )
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .and(header("Authorization", "Bearer t-300"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1.0.0"]}"#))
        .expect(3)
        .mount(&server)
        .await;
    let clock = Arc::new(ManualClock::new(
        Timestamp::from_timestamp(1_700_000_000, 0).unwrap(),
    ));
    let config = fast_config();
    let host = server.address().to_string();
    let transport = Transport::new(&host, http_client(&config).unwrap(), Arc::new(config))
        .with_clock(clock.clone());
    let registry = OciRegistry::new(&host, &host, transport, None);
    registry.list_tags("test/app").await.unwrap();
    // Renewed 30 s before the 300 s are up: at 269 s the token is still used, at 270 s not.
    clock.advance(TimeDelta::seconds(269));
    registry.list_tags("test/app").await.unwrap();
    clock.advance(TimeDelta::seconds(1));
    registry.list_tags("test/app").await.unwrap();
    // Two token requests (the `expect(2)` is checked when the server drops).
}

#[tokio::test]
async fn an_invalid_token_is_dropped_and_fetched_again_once() {
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    let challenge = format!(r#"Bearer realm="{realm}",service="svc""#);
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"access_token":"never-good"}"#),
        )
        .mount(&server)
        .await;
    let refused = format!(
        r#"Bearer realm="{realm}",service="svc",scope="repository:test/app:pull",error="invalid_token""#
    );
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", refused.as_str())
                .set_body_string(
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                ),
        )
        // The fresh token is the same refused one, so the request is not sent again.
        .expect(1)
        .mount(&server)
        .await;
    let registry = client(&server, None);
    let error = registry.list_tags("test/app").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Unauthorized { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "authentication failed (UNAUTHORIZED): authentication required, from {} for repository 'test/app'",
            server.address()
        )
    );
}

#[tokio::test]
async fn basic_challenges_get_basic_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", r#"Basic realm="test-registry""#),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .and(header("Authorization", "Basic dXNlcjpwYXNz"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1.0.0"]}"#))
        .mount(&server)
        .await;
    let credential = Credential::Basic {
        username: "user".to_owned(),
        password: "pass".to_owned(),
    };
    let registry = client(&server, Some(credential));
    assert_eq!(registry.list_tags("test/app").await.unwrap(), ["1.0.0"]);
}

#[tokio::test]
async fn indexes_list_their_platforms_and_digests_are_checked() {
    let server = MockServer::start().await;
    open_ping(&server).await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/manifests/1.0.0-multi"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(INDEX, "application/vnd.oci.image.index.v1+json")
                .insert_header("Docker-Content-Digest", sha256(INDEX).as_str()),
        )
        .mount(&server)
        .await;
    let registry = client(&server, None);
    let manifest = registry.manifest("test/app", "1.0.0-multi").await.unwrap();
    assert_eq!(manifest.digest.to_string(), sha256(INDEX));
    assert!(
        matches!(manifest.content, ManifestContent::Index { ref manifests } if manifests.len() == 3)
    );
    let platforms: Vec<String> = manifest
        .platforms()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
}

#[tokio::test]
async fn a_body_that_does_not_match_its_digest_is_an_error() {
    let server = MockServer::start().await;
    open_ping(&server).await;
    let wrong = sha256("something else");
    Mock::given(method("GET"))
        .and(path("/v2/test/app/manifests/1.0.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(INDEX, "application/vnd.oci.image.index.v1+json")
                .insert_header("Docker-Content-Digest", wrong.as_str()),
        )
        .mount(&server)
        .await;
    let registry = client(&server, None);
    let error = registry.manifest("test/app", "1.0.0").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "digest mismatch: expected {wrong}, the body hashes to {}, from {} for repository 'test/app'",
            sha256(INDEX),
            server.address()
        )
    );
    // Asked by digest, the body must hash to that digest even without a header.
    let asked = sha256("the one I wanted");
    Mock::given(method("GET"))
        .and(path(format!("/v2/test/app/manifests/{asked}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(INDEX, "application/vnd.oci.image.index.v1+json"),
        )
        .mount(&server)
        .await;
    let error = registry.manifest("test/app", &asked).await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::DigestMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn head_without_a_digest_falls_back_to_get() {
    let server = MockServer::start().await;
    open_ping(&server).await;
    Mock::given(method("HEAD"))
        .and(path("/v2/test/app/manifests/1.0.0"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/manifests/1.0.0"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(INDEX, "application/vnd.oci.image.index.v1+json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let registry = client(&server, None);
    let digest = registry.resolve_digest("test/app", "1.0.0").await.unwrap();
    assert_eq!(digest.to_string(), sha256(INDEX));
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_server_errors_retried() {
    let server = MockServer::start().await;
    open_ping(&server).await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1.0.0"]}"#))
        .with_priority(3)
        .mount(&server)
        .await;
    let registry = client(&server, None);
    assert_eq!(registry.list_tags("test/app").await.unwrap(), ["1.0.0"]);
    // Ping, the 429, the 503, the answer.
    assert_eq!(registry.transport().requests_sent(), 4);
}

#[tokio::test]
async fn persistent_failures_end_in_typed_errors() {
    let server = MockServer::start().await;
    open_ping(&server).await;
    Mock::given(method("GET"))
        .and(path("/v2/broken/app/tags/list"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/slow/app/tags/list"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/gone/app/tags/list"))
        .respond_with(ResponseTemplate::new(404).set_body_string(
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"gone/app"}}]}"#,
        ))
        .mount(&server)
        .await;
    let registry = client(&server, None);
    let host = server.address().to_string();

    let error = registry.list_tags("broken/app").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("server error 500: upstream exploded, from {host} for repository 'broken/app'")
    );
    let error = registry.list_tags("slow/app").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("rate limited; retry after 3600 s, from {host} for repository 'slow/app'")
    );
    let error = registry.list_tags("gone/app").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("repository not found (NAME_UNKNOWN), from {host} for repository 'gone/app'")
    );
    // 404 is not retried: one ping, 3 tries of the 500, one 429 given up at once, one 404.
    assert_eq!(registry.transport().requests_sent(), 1 + 3 + 1 + 1);
}

#[tokio::test]
async fn a_budget_stops_requests() {
    let server = MockServer::start().await;
    open_ping(&server).await;
    Mock::given(method("GET"))
        .and(path("/v2/test/app/tags/list"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1.0.0"]}"#))
        .mount(&server)
        .await;
    let config = TransportConfig {
        budget: Some(2),
        ..fast_config()
    };
    let registry = client_with(&server, None, config);
    registry.list_tags("test/app").await.unwrap();
    let error = registry.list_tags("test/app").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::BudgetSpent { budget: 2 }),
        "{error}"
    );
}
