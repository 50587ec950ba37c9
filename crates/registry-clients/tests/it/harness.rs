//! Smoke tests of the real-registry harness (`support`): each auth mode starts, fills, and
//! answers with exactly what the fixture description says, checked with hand-made requests so
//! that the harness is proven before any client is tested against it.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use sha2::Digest as _;
use upkeep_registry_clients::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

use upkeep_test_registry::{
    self as support, APP, Auth, MULTI_TAG, OTHER, SERVICE, TestRegistry, V2S2,
};

/// Every manifest type, as a client should ask.
const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

#[tokio::test]
async fn anonymous_registry_serves_the_standard_images() {
    let Some((registry, images)) = support::filled_registry(Auth::None).await else {
        return;
    };
    let http = reqwest::Client::new();
    assert_eq!(images.app.tags.len(), 156);
    for repository in images.repositories() {
        let tags = list_tags(&http, &registry, repository.name, None).await;
        assert_eq!(tags, repository.tag_names(), "tags of {}", repository.name);
    }
    for (repository, tag, media_type) in [
        (&images.app, "1.0.0", OCI_MANIFEST),
        (&images.app, "1.9.12", OCI_MANIFEST),
        (&images.app, "latest", OCI_MANIFEST),
        (&images.app, MULTI_TAG, OCI_INDEX),
        (&images.other, "3.1.0", OCI_MANIFEST),
        (&images.v2s2, "2.0.0", DOCKER_MANIFEST),
        (&images.v2s2, "latest", DOCKER_MANIFEST),
    ] {
        let (content_type, body) = manifest(&http, &registry, repository.name, tag, None).await;
        let pushed = repository.tag(tag);
        assert_eq!(content_type, media_type, "{}:{tag}", repository.name);
        assert_eq!(
            pushed.manifest.media_type, media_type,
            "{}:{tag}",
            repository.name
        );
        assert_eq!(body, pushed.bytes, "{}:{tag}", repository.name);
        assert_eq!(sha256(&body), pushed.manifest.digest.as_str());
    }
    assert_eq!(images.app.digest("latest"), images.app.digest("1.9.12"));
    assert_ne!(images.app.digest("1.9.11"), images.app.digest("1.9.12"));
    assert_eq!(
        images.app.tag("1.9.12").version_label.as_deref(),
        Some("1.9.12")
    );
    let created = |tag: &str| images.app.tag(tag).created.unwrap().to_rfc3339();
    assert_eq!(created("1.0.0"), "2024-12-31T00:00:00+00:00");
    assert_eq!(created("1.0.0-alpine"), "2025-01-01T00:00:00+00:00");
    assert_eq!(created("1.0.1"), "2025-01-01T01:00:00+00:00");
    let platforms: Vec<String> = images
        .app
        .tag(MULTI_TAG)
        .manifest
        .platforms()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    for untagged in &images.app.untagged {
        let (_, body) = manifest(
            &http,
            &registry,
            APP,
            untagged.manifest.digest.as_str(),
            None,
        )
        .await;
        assert_eq!(body, untagged.bytes);
    }
}

#[tokio::test]
async fn basic_auth_registry_needs_the_credentials() {
    let Some((registry, images)) = support::filled_registry(Auth::basic()).await else {
        return;
    };
    let http = reqwest::Client::new();
    let url = format!("{}/v2/{APP}/tags/list", registry.base_url());
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&refused, "www-authenticate"),
        "Basic realm=\"test-registry\""
    );
    let authorization = basic_authorization(&registry);
    for repository in images.repositories() {
        let tags = list_tags(&http, &registry, repository.name, Some(&authorization)).await;
        assert_eq!(tags, repository.tag_names(), "tags of {}", repository.name);
    }
    let (_, body) = manifest(&http, &registry, V2S2, "2.1.0", Some(&authorization)).await;
    assert_eq!(body, images.v2s2.tag("2.1.0").bytes);
}

#[tokio::test]
async fn token_auth_registry_runs_the_bearer_flow() {
    let Some((registry, images)) = support::filled_registry(Auth::Token).await else {
        return;
    };
    let http = reqwest::Client::new();
    assert_eq!(registry.token_requests(), 0, "the fill resets the count");

    // 1. The registry challenges, naming the issuer, the service and the scope.
    let url = format!("{}/v2/{OTHER}/tags/list", registry.base_url());
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = bearer_challenge(&header(&refused, "www-authenticate"));
    assert_eq!(
        challenge,
        BTreeMap::from([
            ("realm".to_owned(), registry.token_realm().unwrap()),
            ("service".to_owned(), SERVICE.to_owned()),
            ("scope".to_owned(), format!("repository:{OTHER}:pull")),
        ])
    );

    // 2. The issuer refuses wrong credentials and gives a token for the right ones.
    let token_url = format!(
        "{}?service={}&scope={}",
        challenge["realm"], challenge["service"], challenge["scope"]
    );
    let wrong = http
        .get(&token_url)
        .basic_auth("testuser", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (user, password) = registry.credentials().unwrap();
    let answer: serde_json::Value = http
        .get(&token_url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["expires_in"], 300);
    assert!(answer["issued_at"].as_str().unwrap().ends_with('Z'));
    let bearer = format!("Bearer {}", answer["token"].as_str().unwrap());

    // 3. The registry takes the token for the scope it was issued for, and only that.
    let tags = list_tags(&http, &registry, OTHER, Some(&bearer)).await;
    assert_eq!(tags, images.other.tag_names());
    let elsewhere = http
        .get(format!("{}/v2/{APP}/tags/list", registry.base_url()))
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&elsewhere, "www-authenticate").contains("error=\"insufficient_scope\""));

    assert_eq!(registry.token_requests(), 2);
    assert_eq!(
        registry.token_scopes(),
        [
            format!("repository:{OTHER}:pull"),
            format!("repository:{OTHER}:pull")
        ]
    );
}

async fn list_tags(
    http: &reqwest::Client,
    registry: &TestRegistry,
    repository: &str,
    authorization: Option<&str>,
) -> Vec<String> {
    let mut request = http.get(format!("{}/v2/{repository}/tags/list", registry.base_url()));
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "tags of {repository}");
    let body: serde_json::Value = response.json().await.unwrap();
    let mut tags: Vec<String> = serde_json::from_value(body["tags"].clone()).unwrap();
    tags.sort();
    tags
}

async fn manifest(
    http: &reqwest::Client,
    registry: &TestRegistry,
    repository: &str,
    reference: &str,
    authorization: Option<&str>,
) -> (String, Vec<u8>) {
    let mut request = http
        .get(format!(
            "{}/v2/{repository}/manifests/{reference}",
            registry.base_url()
        ))
        .header("Accept", ACCEPT_ALL);
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{repository}:{reference}"
    );
    let content_type = header(&response, "content-type");
    (content_type, response.bytes().await.unwrap().to_vec())
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn basic_authorization(registry: &TestRegistry) -> String {
    use base64::Engine as _;
    let (user, password) = registry.credentials().unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// `Bearer realm="..",service="..",scope=".."` as a map; enough for Distribution's
/// challenges, whose values hold no commas or quotes.
fn bearer_challenge(header: &str) -> BTreeMap<String, String> {
    let parameters = header.strip_prefix("Bearer ").unwrap();
    parameters
        .split(',')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap();
            (key.to_owned(), value.trim_matches('"').to_owned())
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}
