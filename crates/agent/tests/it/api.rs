//! The HTTP API, called as a service without opening a port: a real store in SQLite memory,
//! a fake daemon behind [`Control`] that records what it was asked, and exact answers.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use upkeep_agent::api::{
    self, Access, ApiSettings, ApiState, ApiToken, Control, ControlError, MAX_BODY_BYTES, Metrics,
    ROUTES,
};
use upkeep_agent::config::AgentConfig;
use upkeep_agent::store::{Check, Deployment, DeploymentSource, Event, EventKind, Store};
use upkeep_agent::webhooks::{
    Push, RegistryAllowlist, WebhookConfig, WebhookSecret, WebhookSecrets,
};
use upkeep_versioning_core::policy::{CheckResult, Policy};
use upkeep_versioning_core::reference::Tag;
use upkeep_versioning_core::{ManualClock, UpdateKind};

const TOKEN: &str = "api-token-7c1e";
const HOOK_TOKEN: &str = "hook-token-93ab";
const REGISTRY: &str = "127.0.0.1:5000";

// ---------------------------------------------------------------------------------------------
// Health and metrics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_is_ok_when_the_database_and_docker_answer() {
    let api = Api::start(Some(TOKEN)).await;
    let (status, headers, body) = api.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let mut body = json_of(&body);
    assert!(body["uptime_seconds"].is_u64(), "{body}");
    body["uptime_seconds"] = json!(0);
    assert_eq!(
        body,
        json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": 0,
            "database": true,
            "docker": true,
        })
    );
}

#[tokio::test]
async fn health_is_503_when_docker_does_not_answer() {
    let api = Api::start(Some(TOKEN)).await;
    api.control.docker.store(false, Ordering::Relaxed);
    let (status, _, body) = api.get("/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json_of(&body);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"], true);
    assert_eq!(body["docker"], false);
}

#[tokio::test]
async fn health_is_503_when_the_database_does_not_answer() {
    let api = Api::start(Some(TOKEN)).await;
    api.store.close().await;
    let (status, _, body) = api.get("/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json_of(&body);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"], false);
    assert_eq!(body["docker"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_health_requests_pings_docker_at_most_once_a_second() {
    let api = Api::start(Some(TOKEN)).await;
    let began = std::time::Instant::now();
    let requests = (0..2000).map(|_| {
        let router = api.router.clone();
        tokio::spawn(async move {
            let request = RequestBuilder::new(Method::GET, "/health", "").build();
            router.oneshot(request).await.unwrap().status()
        })
    });
    for status in futures_util::future::join_all(requests).await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let pings = api.control.pings.load(Ordering::SeqCst);
    // One probe per second begun, at most.
    let seconds = began.elapsed().as_secs() as usize + 1;
    assert!(
        pings >= 1 && pings <= seconds,
        "{pings} pings in {seconds} s"
    );
    // Once the probe is older than a second, the next request makes a new one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let before = api.control.pings.load(Ordering::SeqCst);
    assert_eq!(api.get("/health").await.0, StatusCode::OK);
    assert_eq!(api.get("/health").await.0, StatusCode::OK);
    assert_eq!(api.control.pings.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_counts() {
    let api = Api::start(Some(TOKEN)).await;
    api.metrics.checks.inc();
    api.metrics.checks.inc();
    api.metrics.updates_applied.inc();
    api.metrics.registry_requests.add(5);
    api.metrics.registry_rate_limited.inc();
    api.metrics.notifications_failed.inc();
    api.metrics
        .record_cycle(std::time::Duration::from_millis(2500));
    let (status, headers, body) = api.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = std::str::from_utf8(&body).unwrap();
    let counters = [
        ("checks_total", 2),
        ("updates_applied_total", 1),
        ("rollbacks_total", 0),
        ("registry_requests_total", 5),
        ("registry_rate_limited_total", 1),
        ("notifications_sent_total", 0),
        ("notifications_failed_total", 1),
        ("webhooks_accepted_total", 0),
        ("webhooks_refused_total", 0),
    ];
    for (name, value) in counters {
        let name = format!("upkeep_agent_{name}");
        assert!(
            text.contains(&format!("\n# TYPE {name} counter\n{name} {value}\n")),
            "{name} in:\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} in:\n{text}"
        );
    }
    assert!(text.contains("# TYPE upkeep_agent_last_cycle_duration_seconds gauge\nupkeep_agent_last_cycle_duration_seconds 2.5\n"), "{text}");
    assert!(text.contains("upkeep_agent_cycle_duration_seconds_sum 2.5\nupkeep_agent_cycle_duration_seconds_count 1\n"), "{text}");
    // The text format: each line a comment or `name value`, and the file ends with a newline.
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        let is_comment =
            line.starts_with("# HELP upkeep_agent_") || line.starts_with("# TYPE upkeep_agent_");
        let is_sample = line.split_once(' ').is_some_and(|(name, value)| {
            name.starts_with("upkeep_agent_") && value.parse::<f64>().is_ok()
        });
        assert!(is_comment || is_sample, "not exposition format: {line:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deployments_are_listed_with_their_last_check() {
    let api = Api::start(Some(TOKEN)).await;
    let (status, _, body) = api.get("/api/v1/deployments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_of(&body),
        json!({"deployments": [
            {
                "id": "api",
                "image": "127.0.0.1:5000/team/api",
                "current_tag": "2.0.0",
                "current_digest": null,
                "policy": "notify_only",
                "source": "label",
                "created_at": "2025-11-24T09:00:00Z",
                "updated_at": "2025-11-24T09:00:00Z",
                "last_check": {
                    "checked_at": "2025-11-24T09:10:00Z",
                    "current_tag": "2.0.0",
                    "target": null,
                    "kind": "none",
                    "error": "registry 127.0.0.1:5000 answered 503",
                },
            },
            {
                "id": "web",
                "image": "127.0.0.1:5000/team/web",
                "current_tag": "1.2.3",
                "current_digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                "policy": "auto_patch",
                "source": "config",
                "created_at": "2025-11-24T09:00:00Z",
                "updated_at": "2025-11-24T09:00:00Z",
                "last_check": {
                    "checked_at": "2025-11-24T09:05:00.250Z",
                    "current_tag": "1.2.3",
                    "target": "1.2.4",
                    "kind": "patch",
                    "error": null,
                },
            },
        ], "not_watched": []})
    );
}

#[tokio::test]
async fn one_deployment_by_id_and_404_for_an_unknown_one() {
    let api = Api::start(Some(TOKEN)).await;
    let (status, _, body) = api.get("/api/v1/deployments/web").await;
    assert_eq!(status, StatusCode::OK);
    let body = json_of(&body);
    assert_eq!(body["id"], "web");
    assert_eq!(body["last_check"]["target"], "1.2.4");

    let answer = api.get("/api/v1/deployments/nope").await;
    assert_error(
        answer,
        StatusCode::NOT_FOUND,
        "no deployment 'nope': GET /api/v1/deployments lists the deployments the agent watches",
    );
}

#[tokio::test]
async fn set_policy_with_the_token_changes_it_and_logs_it() {
    let api = Api::start(Some(TOKEN)).await;
    let (status, _, body) = api
        .send(
            put(
                "/api/v1/deployments/web/policy",
                r#"{"policy": "auto_minor"}"#,
            )
            .bearer(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let body = json_of(&body);
    assert_eq!(body["policy"], "auto_minor");
    assert_eq!(body["updated_at"], "2025-11-24T12:00:00Z");
    let stored = api.store.deployment("web").await.unwrap().unwrap();
    assert_eq!(stored.deployment.policy, Policy::AutoMinor);
    let events = api.store.events(0, 100).await.unwrap();
    let last = &events.last().unwrap().event;
    assert_eq!(last.kind, EventKind::PolicyChanged);
    assert_eq!(last.deployment.as_deref(), Some("web"));
    assert_eq!(
        last.message,
        "policy changed from auto_patch to auto_minor through the API"
    );
}

#[tokio::test]
async fn set_policy_without_the_right_token_is_401() {
    let api = Api::start(Some(TOKEN)).await;
    let body = r#"{"policy": "auto_minor"}"#;
    let path = "/api/v1/deployments/web/policy";
    let cases: [(&str, Option<&str>, &str); 4] = [
        (
            "no header",
            None,
            "missing `Authorization: Bearer <token>` header: send the token of the environment variable that api_token_env names",
        ),
        (
            "wrong token",
            Some("Bearer not-the-token"),
            "wrong bearer token: send the token of the environment variable that api_token_env names",
        ),
        (
            "the token with a suffix",
            Some("Bearer api-token-7c1ex"),
            "wrong bearer token: send the token of the environment variable that api_token_env names",
        ),
        (
            "basic auth",
            Some("Basic dXNlcjpwYXNz"),
            "malformed `Authorization` header: expected `Bearer <token>`, with the token of the environment variable that api_token_env names",
        ),
    ];
    for (name, header, message) in cases {
        let mut request = put(path, body);
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let answer = api.send(request).await;
        assert_eq!(answer.1["www-authenticate"], "Bearer", "{name}");
        assert_error(answer, StatusCode::UNAUTHORIZED, message);
    }
    // The scheme is case-insensitive.
    let (status, _, _) = api
        .send(put(path, body).header("authorization", format!("bearer {TOKEN}")))
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = api.store.deployment("web").await.unwrap().unwrap();
    assert_eq!(stored.deployment.policy, Policy::AutoMinor);
}

#[tokio::test]
async fn mutating_routes_are_403_without_a_configured_token() {
    let api = Api::start(None).await;
    let message = "this route changes the agent's state and is disabled: set api_token_env in the configuration to enable it, then send the token as `Authorization: Bearer <token>`";
    for request in [
        put(
            "/api/v1/deployments/web/policy",
            r#"{"policy": "auto_minor"}"#,
        )
        .bearer(TOKEN),
        post("/api/v1/deployments/web/check", "").bearer(TOKEN),
        post("/api/v1/deployments/web/apply", "").bearer(TOKEN),
        post("/api/v1/deployments/web/rollback", "").bearer(TOKEN),
    ] {
        assert_error(api.send(request).await, StatusCode::FORBIDDEN, message);
    }
    let stored = api.store.deployment("web").await.unwrap().unwrap();
    assert_eq!(stored.deployment.policy, Policy::AutoPatch);
    assert!(api.control.calls().is_empty());
    // Reading still works.
    assert_eq!(api.get("/api/v1/deployments").await.0, StatusCode::OK);
}

#[tokio::test]
async fn set_policy_with_a_bad_body_is_400_with_the_reason() {
    let api = Api::start(Some(TOKEN)).await;
    let path = "/api/v1/deployments/web/policy";
    let cases = [
        (
            r#"{"policy": "auto-minor"}"#,
            "unknown policy 'auto-minor': did you mean 'auto_minor'? expected one of disabled, notify_only, auto_patch, auto_minor, auto_major",
        ),
        (
            r#"{"policy": "yolo"}"#,
            "unknown policy 'yolo': expected one of disabled, notify_only, auto_patch, auto_minor, auto_major",
        ),
        (
            r#"{"polcy": "auto_minor"}"#,
            r#"cannot read the JSON body (unknown field `polcy`, expected `policy` at line 1 column 8): send a body such as {"policy": "auto_patch"}"#,
        ),
        (
            "auto_minor",
            r#"cannot read the JSON body (expected value at line 1 column 1): send a body such as {"policy": "auto_patch"}"#,
        ),
    ];
    for (body, message) in cases {
        assert_error(
            api.send(put(path, body).bearer(TOKEN)).await,
            StatusCode::BAD_REQUEST,
            message,
        );
    }
    let stored = api.store.deployment("web").await.unwrap().unwrap();
    assert_eq!(stored.deployment.policy, Policy::AutoPatch);

    assert_error(
        api.send(
            put(
                "/api/v1/deployments/nope/policy",
                r#"{"policy": "auto_minor"}"#,
            )
            .bearer(TOKEN),
        )
        .await,
        StatusCode::NOT_FOUND,
        "no deployment 'nope': GET /api/v1/deployments lists the deployments the agent watches",
    );
}

#[tokio::test]
async fn check_apply_and_rollback_go_to_the_daemon() {
    let api = Api::start(Some(TOKEN)).await;
    let (status, _, body) = api
        .send(post("/api/v1/deployments/web/check", "").bearer(TOKEN))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(json_of(&body), json!({"deployment": "web", "queued": true}));

    let (status, _, body) = api
        .send(post("/api/v1/deployments/web/apply", r#"{"tag": "1.2.4"}"#).bearer(TOKEN))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_of(&body),
        json!({"deployment": "web", "outcome": {"applied": "1.2.4"}})
    );
    let (status, _, body) = api
        .send(post("/api/v1/deployments/web/apply", "").bearer(TOKEN))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_of(&body),
        json!({"deployment": "web", "outcome": {"applied": "planned"}})
    );

    // The fake has nothing to roll back to for `api`: its conflict passes through.
    assert_error(
        api.send(post("/api/v1/deployments/api/rollback", "").bearer(TOKEN))
            .await,
        StatusCode::CONFLICT,
        "api has no previous version to roll back to",
    );
    let (status, _, body) = api
        .send(post("/api/v1/deployments/web/rollback", "").bearer(TOKEN))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_of(&body),
        json!({"deployment": "web", "outcome": {"rolled_back_to": "1.2.2"}})
    );

    assert_eq!(
        api.control.calls(),
        [
            "check web",
            "apply web 1.2.4",
            "apply web (planned)",
            "rollback api",
            "rollback web",
        ]
    );
}

#[tokio::test]
async fn apply_refuses_what_it_cannot_read_before_the_daemon_sees_it() {
    let api = Api::start(Some(TOKEN)).await;
    let cases = [
        (
            "/api/v1/deployments/web/apply",
            r#"{"tag": "1.2.4!"}"#,
            StatusCode::BAD_REQUEST,
            "invalid `tag` '1.2.4!': ",
        ),
        (
            "/api/v1/deployments/web/apply",
            r#"{"version": "1.2.4"}"#,
            StatusCode::BAD_REQUEST,
            "cannot read the JSON body (unknown field `version`, expected `tag` at line 1 column 10): send a body such as {\"tag\": \"1.2.3\"}, or no body for the planned target",
        ),
        (
            "/api/v1/deployments/nope/apply",
            "",
            StatusCode::NOT_FOUND,
            "no deployment 'nope': ",
        ),
        (
            "/api/v1/deployments/nope/check",
            "",
            StatusCode::NOT_FOUND,
            "no deployment 'nope': ",
        ),
    ];
    for (path, body, status, start) in cases {
        let (actual, _, answer) = api.send(post(path, body).bearer(TOKEN)).await;
        let message = json_of(&answer)["error"].as_str().unwrap().to_owned();
        assert_eq!(actual, status, "{path} {body}: {message}");
        assert!(message.starts_with(start), "{path} {body}: {message}");
    }
    assert!(api.control.calls().is_empty());
}

#[tokio::test]
async fn a_request_slower_than_the_request_timeout_is_503() {
    let api = Api::start_with(Some(TOKEN), |settings| {
        settings.request_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    // A body that never comes, as from a client that sends the head and stops.
    let never = Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
    let request = Request::put("/api/v1/deployments/web/policy")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(never)
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    assert_error(
        (parts.status, parts.headers, body),
        StatusCode::SERVICE_UNAVAILABLE,
        "the request was not answered within 200ms, the most the agent gives one (a body sent slowly, or a database that does not answer); try again",
    );
    let stored = api.store.deployment("web").await.unwrap().unwrap();
    assert_eq!(stored.deployment.policy, Policy::AutoPatch);
}

// ---------------------------------------------------------------------------------------------
// Host names and reading with the token
// ---------------------------------------------------------------------------------------------

/// The settings `ApiSettings::from_config` makes of an agent configuration `text`.
fn settings_of(text: &str) -> ApiSettings {
    let config = AgentConfig::parse(
        text,
        std::path::Path::new("/etc/upkeep/agent.yaml"),
        // Every variable is set: AGENT_TOKEN to TOKEN, the others to `secret-of-NAME`.
        &|name| {
            Some(if name == "AGENT_TOKEN" {
                TOKEN.to_owned()
            } else {
                format!("secret-of-{name}")
            })
        },
    )
    .unwrap();
    ApiSettings::from_config(&config)
}

#[tokio::test]
async fn on_loopback_only_its_own_names_and_the_allowed_ones_are_answered() {
    let configured = settings_of(
        "listen: 127.0.0.1:8686\napi_token_env: AGENT_TOKEN\nallowed_hosts: [Agent.Internal]\n",
    );
    let api = Api::start_with(Some(TOKEN), |settings| {
        settings.allowed_hosts = configured.allowed_hosts;
    })
    .await;
    for host in [
        "localhost",
        "localhost:8686",
        "127.0.0.1:8686",
        "[::1]:8686",
        "agent.internal",
        "AGENT.INTERNAL:8686",
    ] {
        let (status, _, body) = api
            .send(RequestBuilder::new(Method::GET, "/api/v1/deployments", "").header("host", host))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{host}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    for (host, name) in [
        ("evil.example", "evil.example"),
        ("evil.example:8686", "evil.example"),
        ("localhost.evil.example", "localhost.evil.example"),
        ("127.0.0.2:8686", "127.0.0.2"),
    ] {
        assert_error(
            api.send(RequestBuilder::new(Method::GET, "/health", "").header("host", host))
                .await,
            StatusCode::MISDIRECTED_REQUEST,
            &format!(
                "this agent does not answer to the name '{name}': it answers to localhost, 127.0.0.1, [::1], agent.internal only, as a guard against DNS rebinding; add the name to `allowed_hosts` in the agent's configuration to reach it by that name"
            ),
        );
    }
    // An absolute request target names the host too, whatever the header says.
    let (status, _, _) = api
        .send(
            RequestBuilder::new(Method::GET, "http://evil.example/health", "")
                .header("host", "localhost"),
        )
        .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    // Nothing changing got through either.
    let (status, _, _) = api
        .send(
            post("/api/v1/deployments/web/apply", "")
                .header("host", "evil.example")
                .bearer(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    assert!(api.control.calls().is_empty());
}

#[tokio::test]
async fn off_loopback_any_host_is_answered() {
    let configured = settings_of("listen: 0.0.0.0:8686\napi_token_env: AGENT_TOKEN\n");
    assert_eq!(configured.allowed_hosts, None);
    let api = Api::start_with(Some(TOKEN), |settings| {
        settings.allowed_hosts = configured.allowed_hosts;
    })
    .await;
    let (status, _, _) = api
        .send(RequestBuilder::new(Method::GET, "/health", "").header("host", "agent.example"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn read_token_closes_the_reading_routes_but_health() {
    let configured = settings_of("api_token_env: AGENT_TOKEN\nread_token: true\n");
    assert!(configured.read_token);
    let api = Api::start_with(Some(TOKEN), |settings| {
        settings.read_token = configured.read_token;
    })
    .await;
    for path in [
        "/api/v1/deployments",
        "/api/v1/deployments/web",
        "/api/v1/events",
        "/metrics",
    ] {
        let answer = api.get(path).await;
        assert_eq!(answer.1["www-authenticate"], "Bearer", "{path}");
        assert_error(
            answer,
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <token>` header: send the token of the environment variable that api_token_env names",
        );
        let (status, _, _) = api
            .send(RequestBuilder::new(Method::GET, path, "").bearer("wrong"))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, _, _) = api
            .send(RequestBuilder::new(Method::GET, path, "").bearer(TOKEN))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    for path in ["/health", "/api/v1/openapi.json"] {
        assert_eq!(api.get(path).await.0, StatusCode::OK, "{path}");
    }
    // Without read_token, reading is open.
    let open = Api::start(Some(TOKEN)).await;
    assert_eq!(open.get("/api/v1/events").await.0, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn events_page_by_after_and_limit() {
    let api = Api::start(Some(TOKEN)).await;
    for n in 1..=5 {
        api.store
            .append_event(&Event {
                at: at("2025-11-24T10:00:00Z"),
                deployment: Some("web".to_owned()),
                kind: EventKind::Waiting,
                from_tag: None,
                to_tag: None,
                message: format!("event {n}"),
            })
            .await
            .unwrap();
    }
    let page = |query: &'static str| {
        let api = &api;
        async move {
            let (status, _, body) = api.get(&format!("/api/v1/events{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}");
            let body = json_of(&body);
            let ids: Vec<i64> = body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|event| event["id"].as_i64().unwrap())
                .collect();
            (ids, body["next_after"].as_i64().unwrap())
        }
    };
    assert_eq!(page("").await, (vec![1, 2, 3, 4, 5], 5));
    assert_eq!(page("?limit=2").await, (vec![1, 2], 2));
    assert_eq!(page("?after=2&limit=2").await, (vec![3, 4], 4));
    assert_eq!(page("?after=4&limit=2").await, (vec![5], 5));
    assert_eq!(page("?after=5").await, (vec![], 5));
    assert_eq!(page("?limit=1000").await.0.len(), 5);

    let (_, _, body) = api.get("/api/v1/events?after=2&limit=1").await;
    assert_eq!(
        json_of(&body),
        json!({"events": [{
            "id": 3,
            "at": "2025-11-24T10:00:00Z",
            "deployment": "web",
            "kind": "waiting",
            "from_tag": null,
            "to_tag": null,
            "message": "event 3",
        }], "next_after": 3})
    );

    let cases = [
        (
            "?limit=1001",
            "invalid `limit` '1001': expected a whole number from 1 to 1000 (default 100)",
        ),
        (
            "?limit=0",
            "invalid `limit` '0': expected a whole number from 1 to 1000 (default 100)",
        ),
        (
            "?after=-1",
            "invalid `after` '-1': expected the id of the last event seen, a whole number (0 or none for the start of the log)",
        ),
        (
            "?after=last",
            "invalid `after` 'last': expected the id of the last event seen, a whole number (0 or none for the start of the log)",
        ),
        (
            "?afer=2",
            "unknown query parameter 'afer': /api/v1/events takes `after` and `limit`",
        ),
    ];
    for (query, message) in cases {
        assert_error(
            api.get(&format!("/api/v1/events{query}")).await,
            StatusCode::BAD_REQUEST,
            message,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// A Distribution registry's notification of a push of `team/web:1.2.4`.
fn distribution_push() -> String {
    json!({"events": [{
        "id": "3d8a6a8e-64a8-4b5b-9d8b-0a6a7f0f2b11",
        "timestamp": "2025-11-24T10:00:00Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000002",
            "size": 1234,
            "repository": "team/web",
            "url": "http://127.0.0.1:5000/v2/team/web/manifests/sha256:0000000000000000000000000000000000000000000000000000000000000002",
            "tag": "1.2.4"
        },
        "request": {"host": REGISTRY, "method": "PUT", "useragent": "docker/27"},
        "source": {"addr": "registry:5000"}
    }]})
    .to_string()
}

#[tokio::test]
async fn a_distribution_push_queues_the_matching_deployment() {
    let api = Api::start(Some(TOKEN)).await;
    let (status, _, body) = api
        .send(post(
            &format!("/webhooks/distribution?token={HOOK_TOKEN}"),
            &distribution_push(),
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(json_of(&body), json!({"matched": 1, "pushes": 1}));
    assert_eq!(
        api.control.calls(),
        [
            "pushed 127.0.0.1:5000/team/web:1.2.4@sha256:0000000000000000000000000000000000000000000000000000000000000002",
            "check web",
        ]
    );
    assert_eq!(api.metrics.webhooks_accepted.get(), 1);

    // A genuine delivery without a tag push (a pull) matches nothing and is still accepted.
    let pull = distribution_push().replace(r#""action":"push""#, r#""action":"pull""#);
    let (status, _, body) = api
        .send(post(
            &format!("/webhooks/distribution?token={HOOK_TOKEN}"),
            &pull,
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(json_of(&body), json!({"matched": 0, "pushes": 0}));
    assert_eq!(api.control.calls().len(), 2);
}

#[tokio::test]
async fn each_webhook_source_takes_its_own_token_or_else_the_shared_one() {
    let configured = settings_of(
        "webhooks:\n  registries: ['127.0.0.1:5000']\n  token_env: SHARED\n  distribution_token_env: DISTRIBUTION\n",
    );
    let api = Api::start_with(Some(TOKEN), |settings| {
        settings.webhooks = configured.webhooks;
    })
    .await;
    let push = distribution_push();
    let status = |answer: (StatusCode, HeaderMap, Bytes)| answer.0;
    // Distribution has its own token: the shared one is refused.
    assert_eq!(
        status(
            api.send(post("/webhooks/distribution?token=secret-of-SHARED", &push))
                .await
        ),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            api.send(post(
                "/webhooks/distribution?token=secret-of-DISTRIBUTION",
                &push
            ))
            .await
        ),
        StatusCode::ACCEPTED
    );
    // Docker Hub has none: the shared one is its, and Distribution's is not.
    let hub = r#"{"push_data":{"tag":"1.27"},"repository":{"repo_name":"nginx"}}"#;
    assert_eq!(
        status(
            api.send(post(
                "/webhooks/docker-hub?token=secret-of-DISTRIBUTION",
                hub
            ))
            .await
        ),
        StatusCode::UNAUTHORIZED
    );
    // docker.io is not allowed here: the token passed, the registry did not.
    assert_eq!(
        status(
            api.send(post("/webhooks/docker-hub?token=secret-of-SHARED", hub))
                .await
        ),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_burst_of_pushes_checks_a_deployment_once_now_and_once_after_the_interval() {
    let api = Api::start_with(Some(TOKEN), |settings| {
        settings.webhook_check_interval = std::time::Duration::from_millis(500);
    })
    .await;
    let checks = || {
        api.control
            .calls()
            .iter()
            .filter(|call| call.starts_with("check "))
            .cloned()
            .collect::<Vec<_>>()
    };
    for _ in 0..5 {
        let (status, _, body) = api
            .send(post(
                &format!("/webhooks/distribution?token={HOOK_TOKEN}"),
                &distribution_push(),
            ))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(json_of(&body), json!({"matched": 1, "pushes": 1}));
    }
    // Five pushes, one check now; the other four wait for the interval's end, as one.
    assert_eq!(checks(), ["check web"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while checks().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            api.control.calls()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(checks(), ["check web", "check web"]);
    assert_eq!(api.control.calls().len(), 5 + 2);
}

#[tokio::test]
async fn a_redelivered_github_delivery_is_answered_but_not_acted_on_twice() {
    const SECRET: &str = "github-secret-51d0";
    let api = Api::start_with(Some(TOKEN), |settings| {
        settings.webhooks.secrets.github = WebhookSecret::new(SECRET);
        settings.webhooks.allowed_registries = RegistryAllowlist::new([REGISTRY, "ghcr.io"]);
        settings.webhook_check_interval = std::time::Duration::ZERO;
    })
    .await;
    let body = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/webhooks/github-package-published.json"
    ))
    .unwrap();
    let signature = {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sha256={hex}")
    };
    let delivery = |id: &str| {
        post("/webhooks/github", &body)
            .header("x-github-event", "package")
            .header("x-hub-signature-256", &signature)
            .header("x-github-delivery", id)
    };
    let first = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let (status, _, answer) = api.send(delivery(first)).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(json_of(&answer), json!({"matched": 1, "pushes": 1}));
    let (status, _, answer) = api.send(delivery(first)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_of(&answer),
        json!({"matched": 0, "pushes": 1, "duplicate": true})
    );
    let pushed = "pushed ghcr.io/octo-org/storefront:2.1.0@sha256:4c7ab6ee0a0d1a5b3b7f2f6b1e0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e";
    assert_eq!(api.control.calls(), [pushed, "check storefront"]);
    // Another delivery of the same push is acted on: only the id tells replays apart.
    let (status, _, _) = api
        .send(delivery("8a1f0e64-cc78-11e3-81ab-4c9367dc0958"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(api.control.calls().len(), 4);
    // A forged replay is refused before its id is looked at.
    let (status, _, _) = api
        .send(
            post("/webhooks/github", &body)
                .header("x-github-event", "package")
                .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
                .header("x-github-delivery", first),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn webhooks_refuse_bad_credentials_bad_payloads_and_big_bodies() {
    let api = Api::start(Some(TOKEN)).await;
    let push = distribution_push();
    assert_error(
        api.send(post("/webhooks/distribution?token=guess", &push))
            .await,
        StatusCode::UNAUTHORIZED,
        "wrong `token` query parameter: the token in the webhook URL (`notifications.endpoints[].url` in the registry's configuration) is not the agent's Distribution webhook secret",
    );
    assert_error(
        api.send(post("/webhooks/distribution", &push)).await,
        StatusCode::UNAUTHORIZED,
        "missing `token` query parameter: add `?token=<secret>` to the webhook URL (`notifications.endpoints[].url` in the registry's configuration), with the agent's Distribution webhook secret",
    );
    let answer = api
        .send(post(
            &format!("/webhooks/distribution?token={HOOK_TOKEN}"),
            r#"{"events": [{"action": "push", "#,
        ))
        .await;
    let message = json_of(&answer.2)["error"].as_str().unwrap().to_owned();
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{message}");
    assert!(
        message.starts_with("cannot read the Distribution webhook's JSON at line 1, column 31; is this a Distribution webhook? each source has its own URL on the agent: "),
        "{message}"
    );
    assert_error(
        api.send(post(
            &format!("/webhooks/distribution?token={HOOK_TOKEN}"),
            r#"{"registry": "127.0.0.1:5000"}"#,
        ))
        .await,
        StatusCode::BAD_REQUEST,
        "the Distribution webhook has no `events`; is this a Distribution webhook? each source has its own URL on the agent",
    );
    let elsewhere = push.replace(REGISTRY, "registry.example");
    assert_error(
        api.send(post(
            &format!("/webhooks/distribution?token={HOOK_TOKEN}"),
            &elsewhere,
        ))
        .await,
        StatusCode::FORBIDDEN,
        "pushes from registry 'registry.example' are not allowed (Distribution reported 'registry.example/team/web'): add 'registry.example' to the agent's allowed webhook registries, or stop sending its webhooks here",
    );
    // GitHub has no secret here: the source is disabled.
    assert_error(
        api.send(post("/webhooks/github", "{}")).await,
        StatusCode::FORBIDDEN,
        "webhooks from GitHub are disabled: the agent has no GitHub webhook secret; configure one to accept them",
    );
    assert_error(
        api.send(post(&format!("/webhooks/harbor?token={HOOK_TOKEN}"), &push))
            .await,
        StatusCode::NOT_FOUND,
        "unknown webhook source 'harbor'; expected 'docker-hub', 'github', 'quay' or 'distribution'",
    );
    let big = format!(
        r#"{{"events": [], "padding": "{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    assert_error(
        api.send(post(
            &format!("/webhooks/distribution?token={HOOK_TOKEN}"),
            &big,
        ))
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is larger than 1024 KiB, the most the agent reads; send a smaller body",
    );
    assert!(api.control.calls().is_empty());
    assert_eq!(api.metrics.webhooks_refused.get(), 7);
    assert_eq!(api.metrics.webhooks_accepted.get(), 0);
}

// ---------------------------------------------------------------------------------------------
// Routes and the OpenAPI document
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_no_other() {
    let api = Api::start(Some(TOKEN)).await;
    let (status, _, body) = api.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let document = json_of(&body);
    assert_eq!(document["openapi"], "3.0.3");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));

    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| {
            (
                route.path().to_owned(),
                route.method().as_str().to_lowercase(),
            )
        })
        .collect();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    assert_eq!(routes, documented);

    for route in &ROUTES {
        let operation = &document["paths"][route.path()][route.method().as_str().to_lowercase()];
        let security = &operation["security"];
        match route.access() {
            Access::Anyone => assert!(security.is_null(), "{route:?}"),
            Access::Reader => {
                assert_eq!(security, &json!([{}, {"bearerToken": []}]), "{route:?}");
                assert!(operation["responses"]["401"].is_object(), "{route:?}");
            }
            Access::BearerToken => {
                assert_eq!(security, &json!([{"bearerToken": []}]), "{route:?}");
                assert!(operation["responses"]["401"].is_object(), "{route:?}");
                assert!(operation["responses"]["403"].is_object(), "{route:?}");
            }
            Access::WebhookSecret => assert_eq!(
                security,
                &json!([{"webhookToken": []}, {"githubSignature": []}]),
                "{route:?}"
            ),
            _ => panic!("{route:?}: a new kind of access"),
        }
        // Every path parameter is described.
        for parameter in route.path().split('/').filter_map(|segment| {
            segment
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
        }) {
            let parameters = operation["parameters"].as_array().unwrap();
            let described = parameters.iter().any(|described| {
                described["name"] == parameter
                    || described["$ref"] == "#/components/parameters/DeploymentId"
                        && parameter == "id"
            });
            assert!(described, "{route:?}: {{{parameter}}}");
        }
    }
    // Every `$ref` points at something.
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    for reference in references {
        let pointer = reference.strip_prefix('#').unwrap();
        assert!(document.pointer(pointer).is_some(), "dangling {reference}");
    }
}

#[tokio::test]
async fn every_route_of_the_table_is_served() {
    let api = Api::start(Some(TOKEN)).await;
    for route in &ROUTES {
        let path = route
            .path()
            .replace("{id}", "web")
            .replace("{source}", "distribution");
        let method = Method::from_bytes(route.method().as_str().as_bytes()).unwrap();
        let request = RequestBuilder::new(method, &path, "").bearer(TOKEN);
        let (status, _, body) = api.send(request).await;
        let text = String::from_utf8_lossy(&body);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{route:?}: {text}");
        assert!(!text.contains("no route"), "{route:?}: {text}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let api = Api::start(Some(TOKEN)).await;
    assert_error(
        api.get("/api/v1/deployment?token=secret").await,
        StatusCode::NOT_FOUND,
        "no route GET /api/v1/deployment: GET /api/v1/openapi.json lists the routes",
    );
    let answer = api.send(post("/api/v1/deployments", "")).await;
    assert_eq!(answer.1["allow"], "GET,HEAD");
    assert_error(
        answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "POST is not allowed on /api/v1/deployments: the `Allow` header lists the methods that are, and GET /api/v1/openapi.json describes them",
    );
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The router over a fresh store with two deployments, and what the test looks into.
struct Api {
    router: Router,
    store: Store,
    control: Arc<FakeControl>,
    metrics: Arc<Metrics>,
}

impl Api {
    /// `token`: the configured API token, if any. The Distribution token is [`HOOK_TOKEN`] and
    /// [`REGISTRY`] is the one allowed registry; GitHub has no secret.
    async fn start(token: Option<&str>) -> Self {
        Self::start_with(token, |_| {}).await
    }

    /// As [`start`](Self::start), with the settings changed by `adjust`.
    async fn start_with(token: Option<&str>, adjust: impl FnOnce(&mut ApiSettings)) -> Self {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let created = at("2025-11-24T09:00:00Z");
        for (id, tag, digest, policy, source) in [
            (
                "web",
                "1.2.3",
                Some("sha256:0000000000000000000000000000000000000000000000000000000000000001"),
                Policy::AutoPatch,
                DeploymentSource::Config,
            ),
            (
                "api",
                "2.0.0",
                None,
                Policy::NotifyOnly,
                DeploymentSource::Label,
            ),
        ] {
            let deployment = Deployment {
                id: id.to_owned(),
                image: format!("{REGISTRY}/team/{id}"),
                current_tag: tag.to_owned(),
                current_digest: digest.map(str::to_owned),
                policy,
                source,
            };
            store.upsert_deployment(&deployment, created).await.unwrap();
        }
        let check =
            |at_text, current: &str, target: Option<&str>, kind, error: Option<&str>| Check {
                result: CheckResult {
                    checked_at: at(at_text),
                    current_tag: current.to_owned(),
                    target: target.map(str::to_owned),
                    kind,
                },
                target_digest: None,
                error: error.map(str::to_owned),
            };
        store
            .record_check(
                "web",
                &check(
                    "2025-11-24T09:00:00Z",
                    "1.2.3",
                    None,
                    UpdateKind::None,
                    None,
                ),
            )
            .await
            .unwrap();
        store
            .record_check(
                "web",
                &check(
                    "2025-11-24T09:05:00.25Z",
                    "1.2.3",
                    Some("1.2.4"),
                    UpdateKind::Patch,
                    None,
                ),
            )
            .await
            .unwrap();
        store
            .record_check(
                "api",
                &check(
                    "2025-11-24T09:10:00Z",
                    "2.0.0",
                    None,
                    UpdateKind::None,
                    Some("registry 127.0.0.1:5000 answered 503"),
                ),
            )
            .await
            .unwrap();

        let control = Arc::new(FakeControl {
            docker: AtomicBool::new(true),
            pings: AtomicUsize::new(0),
            images: vec![
                ("web".to_owned(), format!("{REGISTRY}/team/web")),
                ("api".to_owned(), format!("{REGISTRY}/team/api")),
                (
                    "storefront".to_owned(),
                    "ghcr.io/octo-org/storefront".to_owned(),
                ),
            ],
            calls: Mutex::default(),
        });
        let metrics = Arc::new(Metrics::default());
        let mut settings = ApiSettings {
            api_token: token.and_then(ApiToken::new),
            webhooks: WebhookConfig {
                secrets: WebhookSecrets::shared(WebhookSecret::new(HOOK_TOKEN), None),
                allowed_registries: RegistryAllowlist::new([REGISTRY]),
            },
            ..ApiSettings::default()
        };
        adjust(&mut settings);
        let state = ApiState::new(
            store.clone(),
            Arc::clone(&control) as Arc<dyn Control>,
            Arc::clone(&metrics),
            settings,
        )
        .with_clock(Arc::new(ManualClock::new(at("2025-11-24T12:00:00Z"))));
        Self {
            router: api::router(state),
            store,
            control,
            metrics,
        }
    }

    async fn send(&self, request: RequestBuilder) -> (StatusCode, HeaderMap, Bytes) {
        let response = self.router.clone().oneshot(request.build()).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Bytes) {
        self.send(RequestBuilder::new(Method::GET, path, "")).await
    }
}

/// The daemon, faked: Docker's reachability is a switch, and every call is recorded as a line.
struct FakeControl {
    docker: AtomicBool,
    /// How often Docker was asked whether it answers.
    pings: AtomicUsize,
    /// Deployment ids and their images, for matching pushes.
    images: Vec<(String, String)>,
    calls: Mutex<Vec<String>>,
}

impl FakeControl {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait::async_trait]
impl Control for FakeControl {
    async fn check_now(&self, deployment: &str) -> Result<(), ControlError> {
        self.record(format!("check {deployment}"));
        Ok(())
    }

    async fn apply(&self, deployment: &str, tag: Option<Tag>) -> Result<Value, ControlError> {
        let tag = tag.map_or_else(|| "(planned)".to_owned(), |tag| tag.to_string());
        self.record(format!("apply {deployment} {tag}"));
        let applied = if tag == "(planned)" { "planned" } else { &tag };
        Ok(json!({"applied": applied}))
    }

    async fn rollback(&self, deployment: &str) -> Result<Value, ControlError> {
        self.record(format!("rollback {deployment}"));
        match deployment {
            "web" => Ok(json!({"rolled_back_to": "1.2.2"})),
            _ => Err(ControlError::Conflict {
                message: format!("{deployment} has no previous version to roll back to"),
            }),
        }
    }

    async fn docker_reachable(&self) -> bool {
        self.pings.fetch_add(1, Ordering::SeqCst);
        // As long as a ping on loopback takes, so that concurrent requests overlap it.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        self.docker.load(Ordering::Relaxed)
    }

    async fn pushed_deployments(&self, pushes: Vec<Push>) -> Vec<String> {
        let mut matched = BTreeSet::new();
        for push in pushes {
            self.record(format!("pushed {push}"));
            for (id, image) in &self.images {
                if *image == push.name() {
                    matched.insert(id.clone());
                }
            }
        }
        matched.into_iter().collect()
    }
}

/// A request under construction.
struct RequestBuilder {
    request: http::request::Builder,
    body: String,
}

impl RequestBuilder {
    fn new(method: Method, path: &str, body: &str) -> Self {
        let mut request = Request::builder().method(method).uri(path);
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        Self {
            request,
            body: body.to_owned(),
        }
    }

    fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.request = self.request.header(name, value.as_ref());
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn build(self) -> Request<Body> {
        self.request.body(Body::from(self.body)).unwrap()
    }
}

fn put(path: &str, body: &str) -> RequestBuilder {
    RequestBuilder::new(Method::PUT, path, body)
}

fn post(path: &str, body: &str) -> RequestBuilder {
    RequestBuilder::new(Method::POST, path, body)
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(body)))
}

/// Asserts an answer's status, that its body is exactly `{"error": message}`, and that it is
/// JSON.
#[track_caller]
fn assert_error(answer: (StatusCode, HeaderMap, Bytes), status: StatusCode, message: &str) {
    let (actual, headers, body) = answer;
    let body = json_of(&body);
    assert_eq!((actual, &body), (status, &json!({"error": message})));
    assert_eq!(headers["content-type"], "application/json");
}

fn collect_references<'a>(value: &'a Value, references: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => references.push(reference),
                    _ => collect_references(value, references),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, references)),
        _ => {}
    }
}
