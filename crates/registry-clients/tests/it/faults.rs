//! Faults between the client and a real registry, injected by a local proxy: each ends in a
//! retry that succeeds or a clear typed error, never a wrong answer.

use std::sync::Arc;
use std::time::Duration;

use upkeep_registry_clients::oci::OciRegistry;
use upkeep_registry_clients::transport::{Transport, TransportConfig, http_client};
use upkeep_registry_clients::{ErrorKind, Registry};

use crate::fault_proxy::{Fault, FaultProxy};
use upkeep_test_registry::{self as support, APP, Auth};

fn client_through(proxy: &FaultProxy) -> OciRegistry {
    let config = TransportConfig {
        initial_backoff: Duration::from_millis(20),
        max_retries: 2,
        ..TransportConfig::default()
    };
    let transport = Transport::new(
        proxy.host(),
        http_client(&config).unwrap(),
        Arc::new(config),
    );
    OciRegistry::new(proxy.host(), proxy.host(), transport, None)
}

fn count(proxy: &FaultProxy, request: &str) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|seen| seen.starts_with(request))
        .count()
}

#[tokio::test]
async fn transient_faults_are_retried_to_the_right_answer() {
    let Some((registry, images)) = support::filled_registry(Auth::None).await else {
        return;
    };
    let proxy = FaultProxy::start(&registry.base_url()).await;
    let client = client_through(&proxy);
    let manifests = format!("/v2/{APP}/manifests/1.2.3");
    let listing = format!("/v2/{APP}/tags/list");

    proxy.inject(&listing, Fault::TooManyRequests("1"), 1);
    proxy.inject(&listing, Fault::ServerError, 1);
    let mut tags = client.list_tags(APP).await.unwrap();
    tags.sort();
    assert_eq!(tags, images.app.tag_names());
    assert_eq!(count(&proxy, &format!("GET {listing}")), 3);

    proxy.inject(&manifests, Fault::Delay(Duration::from_millis(300)), 1);
    proxy.inject(&manifests, Fault::Truncate, 1);
    let manifest = client.manifest(APP, "1.2.3").await.unwrap();
    assert_eq!(manifest, images.app.tag("1.2.3").manifest);

    proxy.inject(&manifests, Fault::ServerError, 2);
    let digest = client.resolve_digest(APP, "1.2.3").await.unwrap();
    assert_eq!(&digest, images.app.digest("1.2.3"));
}

#[tokio::test]
async fn lasting_faults_end_in_typed_errors() {
    let Some((registry, _images)) = support::filled_registry(Auth::None).await else {
        return;
    };
    let proxy = FaultProxy::start(&registry.base_url()).await;
    let client = client_through(&proxy);
    let manifests = format!("/v2/{APP}/manifests/1.2.3");

    // A digest that does not match the body: refused, never returned.
    proxy.inject(&manifests, Fault::WrongDigest, 1);
    let error = client.manifest(APP, "1.2.3").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::DigestMismatch { .. }),
        "{error}"
    );

    // A body cut short twice: a transport error, not half a manifest.
    proxy.inject(&manifests, Fault::Truncate, 2);
    let error = client.manifest(APP, "1.2.3").await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Transport(_)), "{error}");

    // 500 on every try: a server error after the retries.
    proxy.inject(&manifests, Fault::ServerError, 3);
    let error = client.manifest(APP, "1.2.3").await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Server { status: 500, .. }),
        "{error}"
    );

    // A rate limit longer than the client will wait: reported with the wait.
    proxy.inject(&manifests, Fault::TooManyRequests("7200"), 1);
    let error = client.manifest(APP, "1.2.3").await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::RateLimited { retry_after: Some(wait) } if *wait == Duration::from_secs(7200)
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "rate limited; retry after 7200 s, from {} for repository 'test/app'",
            proxy.host()
        )
    );
}
