//! The generic OCI client and the router against real registries: Debian's docker-registry
//! (Distribution 2.8) without auth, with htpasswd Basic auth and with token auth, filled with
//! images umoci built and skopeo pushed.

use std::collections::BTreeMap;
use std::sync::Arc;

use upkeep_registry_clients::credentials::Credential;
use upkeep_registry_clients::oci::OciRegistry;
use upkeep_registry_clients::router::{RegistryRouter, RouterConfig, StaticCredentials};
use upkeep_registry_clients::transport::{Transport, TransportConfig, http_client};
use upkeep_registry_clients::{ErrorKind, Registry};

use upkeep_test_registry::{self as support, APP, Auth, MULTI_TAG, OTHER, TestRegistry, V2S2};

fn credential(registry: &TestRegistry) -> Option<Credential> {
    registry
        .credentials()
        .map(|(user, password)| Credential::Basic {
            username: user.to_owned(),
            password: password.to_owned(),
        })
}

fn client(registry: &TestRegistry) -> OciRegistry {
    let config = TransportConfig::default();
    let transport = Transport::new(
        &registry.host(),
        http_client(&config).unwrap(),
        Arc::new(config),
    );
    OciRegistry::new(
        &registry.host(),
        &registry.host(),
        transport,
        credential(registry),
    )
}

/// Every operation of the trait, with exact answers, in one auth mode.
async fn reads_everything_exactly(auth: Auth) {
    let Some((registry, images)) = support::filled_registry(auth).await else {
        return;
    };
    let client = client(&registry);

    for repository in images.repositories() {
        let mut listed = client.list_tags(repository.name).await.unwrap();
        listed.sort();
        assert_eq!(listed, repository.tag_names(), "{}", repository.name);
    }
    assert!(images.app.tag_names().len() > 100);

    for tag in ["1.0.0", "1.9.12", "2.0.0-rc1", "latest", MULTI_TAG] {
        let digest = client.resolve_digest(APP, tag).await.unwrap();
        assert_eq!(&digest, images.app.digest(tag), "{tag}");
        let manifest = client.manifest(APP, tag).await.unwrap();
        assert_eq!(manifest, images.app.tag(tag).manifest, "{tag}");
    }
    // The index lists its platforms; BuildKit's attestation entry is left out.
    let index = client.manifest(APP, MULTI_TAG).await.unwrap();
    let platforms: Vec<String> = index.platforms().iter().map(ToString::to_string).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    // By digest too, and a Docker schema 2 image.
    let by_digest = client
        .manifest(APP, images.app.digest("1.0.0").as_str())
        .await
        .unwrap();
    assert_eq!(by_digest, images.app.tag("1.0.0").manifest);
    assert_eq!(
        client.manifest(V2S2, "2.1.0").await.unwrap(),
        images.v2s2.tag("2.1.0").manifest
    );
    assert_eq!(
        client.manifest(V2S2, "2.1.0").await.unwrap().media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );

    let missing = client.resolve_digest(APP, "9.9.9").await.unwrap_err();
    assert!(
        matches!(missing.kind(), ErrorKind::NotFound { .. }),
        "{missing}"
    );
    let missing = client.list_tags("test/nothing").await.unwrap_err();
    assert!(
        matches!(missing.kind(), ErrorKind::NotFound { .. }),
        "{missing}"
    );
    let unsupported = client.tag_metadata(APP).await.unwrap_err();
    assert!(matches!(unsupported.kind(), ErrorKind::Unsupported { .. }));
}

#[tokio::test]
async fn reads_everything_without_auth() {
    reads_everything_exactly(Auth::None).await;
}

#[tokio::test]
async fn reads_everything_with_basic_auth() {
    reads_everything_exactly(Auth::basic()).await;
}

#[tokio::test]
async fn reads_everything_with_token_auth() {
    reads_everything_exactly(Auth::Token).await;
}

#[tokio::test]
async fn tokens_are_cached_per_scope() {
    let Some((registry, _images)) = support::filled_registry(Auth::Token).await else {
        return;
    };
    let client = client(&registry);
    for _ in 0..3 {
        client.list_tags(APP).await.unwrap();
        client.resolve_digest(APP, "1.0.0").await.unwrap();
        client.list_tags(OTHER).await.unwrap();
    }
    // One token per repository scope, however many requests use it.
    let mut scopes = registry.token_scopes();
    scopes.sort();
    assert_eq!(
        scopes,
        ["repository:test/app:pull", "repository:test/other:pull"]
    );
    assert_eq!(registry.token_requests(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_a_clear_error() {
    for auth in [Auth::basic(), Auth::Token] {
        let Some(registry) = support::registry(auth).await else {
            return;
        };
        let config = TransportConfig::default();
        let transport = Transport::new(
            &registry.host(),
            http_client(&config).unwrap(),
            Arc::new(config),
        );
        let wrong = Credential::Basic {
            username: "testuser".to_owned(),
            password: "not-the-password".to_owned(),
        };
        let client = OciRegistry::new(&registry.host(), &registry.host(), transport, Some(wrong));
        let error = client.list_tags(APP).await.unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::Unauthorized { .. }),
            "{auth:?}: {error}"
        );
        assert!(!error.to_string().contains("not-the-password"));
        assert!(!format!("{error:?}").contains("not-the-password"));
    }
}

/// Creates `count` more repositories holding `test/other:3.0.0`, by cross-repository blob
/// mounts and a manifest PUT.
async fn copy_into_repositories(registry: &TestRegistry, count: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let base = registry.base_url();
    let accept = "application/vnd.oci.image.manifest.v1+json";
    let response = http
        .get(format!("{base}/v2/{OTHER}/manifests/3.0.0"))
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.bytes().await.unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    for layer in manifest["layers"].as_array().unwrap() {
        blobs.push(layer["digest"].as_str().unwrap().to_owned());
    }
    let mut names = Vec::new();
    for index in 0..count {
        let name = format!("fleet/service{index:02}");
        for blob in &blobs {
            let mounted = http
                .post(format!(
                    "{base}/v2/{name}/blobs/uploads/?mount={blob}&from={OTHER}"
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(mounted.status(), 201, "mount {blob} into {name}");
        }
        let put = http
            .put(format!("{base}/v2/{name}/manifests/3.0.0"))
            .header("Content-Type", &content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "manifest into {name}");
        names.push(name);
    }
    names
}

#[tokio::test]
async fn two_hundred_deployments_of_twenty_repositories_cost_twenty_listings() {
    let Some((registry, _images)) = support::filled_registry(Auth::None).await else {
        return;
    };
    let repositories = copy_into_repositories(&registry, 20).await;
    let router = Arc::new(
        RegistryRouter::new(
            RouterConfig::default(),
            Arc::new(StaticCredentials::default()),
        )
        .unwrap(),
    );
    let host = registry.host();
    let mut deployments = Vec::new();
    for deployment in 0..200 {
        let image: upkeep_registry_clients::core::reference::ImageRef =
            format!("{host}/{}:3.0.0", repositories[deployment % 20])
                .parse()
                .unwrap();
        let router = router.clone();
        deployments.push(tokio::spawn(async move {
            let registry = router.registry_for(&image).await.unwrap();
            registry.list_tags(image.repository()).await.unwrap()
        }));
    }
    for deployment in deployments {
        assert_eq!(deployment.await.unwrap(), ["3.0.0"]);
    }
    // One `/v2/` probe and one single-page listing per repository, nothing more.
    let sent = router.requests_sent().await;
    assert_eq!(sent, BTreeMap::from([(host, 1 + 20)]));
}
