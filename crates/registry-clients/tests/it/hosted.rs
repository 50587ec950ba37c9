//! The router's hosted registries, with their APIs played by in-process servers from their
//! documented shapes: Docker Hub's tag metadata and pull limit, and a private ECR host whose
//! registry password comes from `GetAuthorizationToken`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use upkeep_registry_clients::hosted::ecr::AwsSources;
use upkeep_registry_clients::router::{Endpoints, RegistryRouter, RouterConfig, StaticCredentials};
use upkeep_registry_clients::{ErrorKind, Registry};
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ECR_HOST: &str = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";

fn router(endpoints: Endpoints, aws: Option<AwsSources>) -> RegistryRouter {
    let config = RouterConfig {
        endpoints,
        aws,
        ..RouterConfig::default()
    };
    RegistryRouter::new(config, Arc::new(StaticCredentials::default())).unwrap()
}

#[tokio::test]
async fn docker_hub_uses_its_web_api_for_metadata_and_stops_before_the_pull_limit() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/library/nginx/tags/list"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1.25.3","1.25.4"]}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/repositories/library/nginx/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"count":1,"next":null,"previous":null,"results":[{"name":"1.25.4","last_updated":"2026-11-01T10:00:00.000000Z","tag_last_pushed":"2026-10-31T09:00:00.000000Z","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}"#,
        ))
        .mount(&server)
        .await;
    let manifest = r#"{"schemaVersion":2,"config":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"layers":[]}"#;
    Mock::given(method("GET"))
        .and(path("/v2/library/nginx/manifests/1.25.4"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(manifest, "application/vnd.oci.image.manifest.v1+json")
                .insert_header("ratelimit-limit", "100;w=21600")
                .insert_header("ratelimit-remaining", "4;w=21600"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path("/v2/library/nginx/manifests/1.25.4"))
        .respond_with(ResponseTemplate::new(200).insert_header(
            "docker-content-digest",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ))
        .mount(&server)
        .await;

    let endpoints = Endpoints {
        api_hosts: BTreeMap::from([("docker.io".to_owned(), server.address().to_string())]),
        docker_hub_web: Url::parse(&server.uri()).unwrap(),
        ..Endpoints::default()
    };
    let router = router(endpoints, None);
    let image = "nginx:1.25.3".parse().unwrap();
    let hub = router.registry_for(&image).await.unwrap();
    assert_eq!(
        hub.list_tags("library/nginx").await.unwrap(),
        ["1.25.3", "1.25.4"]
    );
    let metadata = hub.tag_metadata("library/nginx").await.unwrap();
    assert_eq!(metadata.len(), 1);
    assert_eq!(metadata[0].tag, "1.25.4");
    assert_eq!(
        metadata[0].pushed_at.map(|time| time.to_rfc3339()),
        Some("2026-10-31T09:00:00+00:00".to_owned())
    );

    // The manifest GET reports 4 pulls left, below the reserve of 5: the next GET waits for
    // the window instead of spending the last pulls, while HEADs (free) go on.
    hub.manifest("library/nginx", "1.25.4").await.unwrap();
    let client = router.client("docker.io").await.unwrap();
    let limit = client.inner().oci().transport().pull_limit().unwrap();
    assert_eq!((limit.limit, limit.remaining), (100, 4));
    let refused = client
        .inner()
        .oci()
        .manifest("library/nginx", "1.25.4")
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused.kind(),
            ErrorKind::RateLimited { retry_after: Some(wait) } if *wait == Duration::from_secs(21600)
        ),
        "{refused}"
    );
    hub.resolve_digest("library/nginx", "1.25.4").await.unwrap();
}

#[tokio::test]
async fn private_ecr_hosts_log_in_with_get_authorization_token() {
    let api = MockServer::start().await;
    let password = "ecr-registry-password";
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header(
            "x-amz-target",
            "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":4102444800.0,"proxyEndpoint":"https://{ECR_HOST}"}}]}}"#
        )))
        .expect(1)
        .mount(&api)
        .await;
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!(r#"Basic realm="https://{ECR_HOST}/",service="ecr.amazonaws.com""#).as_str(),
        ))
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/tags/list"))
        .and(header("authorization", format!("Basic {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1.0.0","1.1.0"]}"#))
        .mount(&registry)
        .await;

    let endpoints = Endpoints {
        api_hosts: BTreeMap::from([(ECR_HOST.to_owned(), registry.address().to_string())]),
        ecr_api: Some(Url::parse(&format!("{}/", api.uri())).unwrap()),
        ..Endpoints::default()
    };
    let aws = AwsSources::new(
        BTreeMap::from([
            ("AWS_ACCESS_KEY_ID".to_owned(), "AKIDEXAMPLE".to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            ),
        ]),
        None,
    );
    let router = router(endpoints, Some(aws));
    let image = format!("{ECR_HOST}/team/app:1.0.0").parse().unwrap();
    let ecr = router.registry_for(&image).await.unwrap();
    assert_eq!(ecr.list_tags("team/app").await.unwrap(), ["1.0.0", "1.1.0"]);
    // The password is kept for its life: a second lookup asks AWS nothing more (the API
    // mock expects exactly one call when it drops).
    let again = router.registry_for(&image).await.unwrap();
    assert_eq!(
        again.list_tags("team/app").await.unwrap(),
        ["1.0.0", "1.1.0"]
    );
}

#[tokio::test]
async fn ecr_without_aws_credentials_says_how_to_fix_it() {
    let endpoints = Endpoints::default();
    let router = router(endpoints, Some(AwsSources::new(BTreeMap::new(), None)));
    let image = format!("{ECR_HOST}/team/app:1.0.0").parse().unwrap();
    let error = router.registry_for(&image).await.map(|_| ()).unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Credentials { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(ECR_HOST), "{error}");
}

#[tokio::test]
async fn ghcr_public_images_get_anonymous_tokens_and_page_by_link() {
    let server = MockServer::start().await;
    let realm = format!("{}/token", server.uri());
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header(
                "WWW-Authenticate",
                format!(
                    r#"Bearer realm="{realm}",service="ghcr.io",scope="repository:user/image:pull""#
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    // GHCR's anonymous token answer: only `token`, no expiry.
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(wiremock::matchers::query_param(
            "scope",
            "repository:owner/app:pull",
        ))
        .and(wiremock::matchers::query_param("service", "ghcr.io"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"token":"djE6b3duZXIvYXBwOjE3MzU3MzI4MDA="}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    // Oldest first, 100 per page, `Link` to the next (observed GHCR behaviour).
    let first: Vec<String> = (0..100).map(|patch| format!("\"1.0.{patch}\"")).collect();
    Mock::given(method("GET"))
        .and(path("/v2/owner/app/tags/list"))
        .and(wiremock::matchers::query_param_is_missing("last"))
        .and(header(
            "authorization",
            "Bearer djE6b3duZXIvYXBwOjE3MzU3MzI4MDA=",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(format!(
                    r#"{{"name":"owner/app","tags":[{}]}}"#,
                    first.join(",")
                ))
                .insert_header(
                    "Link",
                    r#"</v2/owner/app/tags/list?last=1.0.99&n=100>; rel="next""#,
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/owner/app/tags/list"))
        .and(wiremock::matchers::query_param("last", "1.0.99"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"name":"owner/app","tags":["1.1.0","latest"]}"#),
        )
        .mount(&server)
        .await;
    let endpoints = Endpoints {
        api_hosts: BTreeMap::from([("ghcr.io".to_owned(), server.address().to_string())]),
        ..Endpoints::default()
    };
    let router = router(endpoints, None);
    let image = "ghcr.io/owner/app:1.0.0".parse().unwrap();
    let ghcr = router.registry_for(&image).await.unwrap();
    let tags = ghcr.list_tags("owner/app").await.unwrap();
    assert_eq!(tags.len(), 102);
    assert_eq!(tags.last().map(String::as_str), Some("latest"));
}
