//! The routes' handlers, and the JSON shapes they answer with (described for clients in the
//! OpenAPI document).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::policy::Policy;
use upkeep_versioning_core::reference::Tag;

use super::error::{ApiError, chain, json, quoted};
use super::gate::Admission;
use super::{ApiState, ControlError, MAX_BODY_BYTES, metrics, openapi};
use crate::store::{Check, DeploymentRecord, Event, EventKind, EventRecord};
use crate::webhooks::{self, Source};

/// How long `/health` waits for Docker before it counts Docker as unreachable. The database
/// ping is bounded by the store's own acquire timeout.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Events per page when `limit` is not given.
const DEFAULT_EVENTS: u32 = 100;
/// The most events per page.
const MAX_EVENTS: u32 = 1000;

// ---------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
    database: bool,
    docker: bool,
}

/// How old a probe of the database and Docker `/health` may answer with: a flood of health
/// requests costs at most one probe of each a second.
pub(super) const HEALTH_MAX_AGE: Duration = Duration::from_secs(1);

/// The last probe behind `/health`, and the lock that lets one request at a time refresh it.
#[derive(Default)]
pub(super) struct HealthCache {
    latest: std::sync::Mutex<Option<Probe>>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Clone, Copy)]
struct Probe {
    at: Instant,
    database: bool,
    docker: bool,
}

impl HealthCache {
    /// The latest probe if younger than [`HEALTH_MAX_AGE`].
    fn fresh(&self) -> Option<Probe> {
        let latest = *self.latest.lock().ok()?;
        latest.filter(|probe| probe.at.elapsed() < HEALTH_MAX_AGE)
    }
}

/// A probe at most [`HEALTH_MAX_AGE`] old: the latest, or a new one. One request refreshes at
/// a time; those that arrive meanwhile wait for its result instead of probing too.
async fn probe(state: &ApiState) -> Probe {
    let cache = &state.health;
    if let Some(probe) = cache.fresh() {
        return probe;
    }
    let _one_at_a_time = cache.refreshing.lock().await;
    if let Some(probe) = cache.fresh() {
        return probe;
    }
    let database = async {
        match state.store.ping().await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(error = %chain(&error), "health: the database does not answer");
                false
            }
        }
    };
    let docker = async {
        let reachable = tokio::time::timeout(HEALTH_TIMEOUT, state.control.docker_reachable())
            .await
            .unwrap_or(false);
        if !reachable {
            tracing::warn!("health: Docker does not answer");
        }
        reachable
    };
    let (database, docker) = tokio::join!(database, docker);
    let probe = Probe {
        at: Instant::now(),
        database,
        docker,
    };
    if let Ok(mut latest) = cache.latest.lock() {
        *latest = Some(probe);
    }
    probe
}

pub(super) async fn health(State(state): State<ApiState>) -> Response {
    let Probe {
        database, docker, ..
    } = probe(&state).await;
    let healthy = database && docker;
    let body = Health {
        status: if healthy { "ok" } else { "unhealthy" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        database,
        docker,
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &body)
}

/// The layer of the routes that do not run a change: answers 503 when the request takes longer
/// than [`ApiSettings::request_timeout`](super::ApiSettings::request_timeout).
pub(super) async fn within_request_timeout(
    State(state): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = state.settings.request_timeout;
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, "a request took longer than the request timeout");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request was not answered within {limit:?}, the most the agent gives \
                     one (a body sent slowly, or a database that does not answer); try again"
                ),
            )
            .into_response()
        }
    }
}

pub(super) async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        state.metrics.render(),
    )
        .into_response()
}

pub(super) async fn openapi() -> Response {
    json(StatusCode::OK, &openapi::document())
}

// ---------------------------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------------------------

/// A deployment as the API shows it.
#[derive(Serialize)]
struct DeploymentView {
    id: String,
    image: String,
    current_tag: String,
    current_digest: Option<String>,
    policy: &'static str,
    source: &'static str,
    created_at: String,
    updated_at: String,
    /// `None` until it is first checked.
    last_check: Option<CheckView>,
}

#[derive(Serialize)]
struct CheckView {
    checked_at: String,
    /// The tag the deployment ran when checked.
    current_tag: String,
    /// The tag to move to, if the check found one.
    target: Option<String>,
    /// The kind of move to `target` (`none` without one).
    kind: &'static str,
    /// Why the check failed, if it did.
    error: Option<String>,
}

#[derive(Serialize)]
struct DeploymentList {
    deployments: Vec<DeploymentView>,
    /// Configured deployments the agent cannot watch yet, by id.
    not_watched: Vec<NotWatchedView>,
}

/// A configured deployment the agent does not watch yet, and what to do about it.
#[derive(Serialize)]
struct NotWatchedView {
    id: String,
    image: String,
    container: String,
    state: &'static str,
    fix: String,
}

pub(super) async fn deployments(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let records = state.store.deployments().await.map_err(ApiError::store)?;
    // One query for every last check, not one per deployment.
    let mut checks = state.store.last_checks().await.map_err(ApiError::store)?;
    let deployments: Vec<DeploymentView> = records
        .into_iter()
        .map(|record| {
            let check = checks.remove(&record.deployment.id);
            view_with(record, check)
        })
        .collect();
    let not_watched = state
        .control
        .without_container()
        .await
        .into_iter()
        // A deployment watched before keeps its record while its container is away.
        .filter(|missing| !deployments.iter().any(|known| known.id == missing.id))
        .map(|missing| NotWatchedView {
            fix: format!(
                "start the container `{}`, or remove the deployment `{}` from the agent's \
                 configuration; the agent takes the container over within 30 s of its start",
                missing.container, missing.id
            ),
            id: missing.id,
            image: missing.image,
            container: missing.container,
            state: "container missing",
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &DeploymentList {
            deployments,
            not_watched,
        },
    ))
}

pub(super) async fn deployment(
    State(state): State<ApiState>,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let record = stored(&state, &id).await?;
    Ok(json(StatusCode::OK, &view(&state, record).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRequest {
    policy: String,
}

pub(super) async fn set_policy(
    State(state): State<ApiState>,
    PathParam(id): PathParam,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: PolicyRequest = json_body(&body?, r#"{"policy": "auto_patch"}"#)?;
    // Shortened first, so that the message does not echo a huge word; no policy is that long.
    let policy: Policy = quoted(&request.policy)
        .parse()
        .map_err(|error| ApiError::bad_request(format!("{error}")))?;
    let before = stored(&state, &id).await?;
    let now = state.clock.now();
    state
        .store
        .set_policy(&id, policy, now)
        .await
        .map_err(ApiError::store)?;
    let previous = before.deployment.policy;
    if previous != policy {
        let event = Event {
            at: now,
            deployment: Some(id.clone()),
            kind: EventKind::PolicyChanged,
            from_tag: None,
            to_tag: None,
            message: format!("policy changed from {previous} to {policy} through the API"),
        };
        state
            .store
            .append_event(&event)
            .await
            .map_err(ApiError::store)?;
    }
    tracing::info!(deployment = %id, from = %previous, to = %policy, "policy set through the API");
    let record = stored(&state, &id).await?;
    Ok(json(StatusCode::OK, &view(&state, record).await?))
}

#[derive(Serialize)]
struct Queued<'a> {
    deployment: &'a str,
    queued: bool,
}

pub(super) async fn check(
    State(state): State<ApiState>,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    stored(&state, &id).await?;
    let control = Arc::clone(&state.control);
    let deployment = id.clone();
    on_its_own_task(async move { control.check_now(&deployment).await }).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &Queued {
            deployment: &id,
            queued: true,
        },
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApplyRequest {
    tag: Option<String>,
}

#[derive(Serialize)]
struct Outcome<'a> {
    deployment: &'a str,
    outcome: serde_json::Value,
}

pub(super) async fn apply(
    State(state): State<ApiState>,
    PathParam(id): PathParam,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    // No body, or only whitespace, asks for the planned target.
    let request: ApplyRequest = if body.trim_ascii().is_empty() {
        ApplyRequest::default()
    } else {
        json_body(
            &body,
            r#"{"tag": "1.2.3"}, or no body for the planned target"#,
        )?
    };
    let tag = request
        .tag
        .map(|tag| {
            tag.parse::<Tag>().map_err(|error| {
                ApiError::bad_request(format!("invalid `tag` '{}': {error}", quoted(&tag)))
            })
        })
        .transpose()?;
    stored(&state, &id).await?;
    let control = Arc::clone(&state.control);
    let deployment = id.clone();
    let outcome = on_its_own_task(async move { control.apply(&deployment, tag).await }).await?;
    Ok(json(
        StatusCode::OK,
        &Outcome {
            deployment: &id,
            outcome,
        },
    ))
}

pub(super) async fn rollback(
    State(state): State<ApiState>,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    stored(&state, &id).await?;
    let control = Arc::clone(&state.control);
    let deployment = id.clone();
    let outcome = on_its_own_task(async move { control.rollback(&deployment).await }).await?;
    Ok(json(
        StatusCode::OK,
        &Outcome {
            deployment: &id,
            outcome,
        },
    ))
}

/// Runs a change the API was asked for on its own task, and waits for it.
///
/// A client that goes away (a proxy timing out, Ctrl-C) drops the handler's future; were the
/// change run inside it, the update would stop at whatever step it had reached. On its own
/// task it runs to its end and logs its outcome in the event log, whoever waits for it.
async fn on_its_own_task<T: Send + 'static>(
    change: impl Future<Output = Result<T, ControlError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(change).await {
        Ok(result) => result.map_err(control_error),
        Err(error) => {
            tracing::error!(%error, "a change asked through the API stopped abnormally");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the change stopped abnormally; the agent's log says why and GET /api/v1/events \
                 what it did; report this as a bug",
            ))
        }
    }
}

/// The stored deployment `id`, or 404.
async fn stored(state: &ApiState, id: &str) -> Result<DeploymentRecord, ApiError> {
    state
        .store
        .deployment(id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::unknown_deployment(id))
}

async fn view(state: &ApiState, record: DeploymentRecord) -> Result<DeploymentView, ApiError> {
    let check = state
        .store
        .last_check(&record.deployment.id)
        .await
        .map_err(ApiError::store)?;
    Ok(view_with(record, check))
}

fn view_with(record: DeploymentRecord, check: Option<Check>) -> DeploymentView {
    let deployment = record.deployment;
    let last_check = check.map(|Check { result, error, .. }| CheckView {
        checked_at: time(result.checked_at),
        current_tag: result.current_tag,
        target: result.target,
        kind: result.kind.as_str(),
        error,
    });
    DeploymentView {
        id: deployment.id,
        image: deployment.image,
        current_tag: deployment.current_tag,
        current_digest: deployment.current_digest,
        policy: deployment.policy.as_str(),
        source: deployment.source.as_str(),
        created_at: time(record.created_at),
        updated_at: time(record.updated_at),
        last_check,
    }
}

fn control_error(error: ControlError) -> ApiError {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!(error = %error, "the daemon failed an API request");
    }
    ApiError::new(status, error.to_string())
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct EventView {
    id: i64,
    at: String,
    deployment: Option<String>,
    kind: &'static str,
    from_tag: Option<String>,
    to_tag: Option<String>,
    message: String,
}

#[derive(Serialize)]
struct EventPage {
    events: Vec<EventView>,
    /// The `after` of the next page: the last id of this one, or the `after` asked for when
    /// this page is empty.
    next_after: i64,
}

pub(super) async fn events(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (after, limit) = events_query(query.as_deref())?;
    let records = state
        .store
        .events(after, limit)
        .await
        .map_err(ApiError::store)?;
    let next_after = records.last().map_or(after, |record| record.id);
    let events = records
        .into_iter()
        .map(|EventRecord { id, event }| EventView {
            id,
            at: time(event.at),
            deployment: event.deployment,
            kind: event.kind.as_str(),
            from_tag: event.from_tag,
            to_tag: event.to_tag,
            message: event.message,
        })
        .collect();
    Ok(json(StatusCode::OK, &EventPage { events, next_after }))
}

/// `after` and `limit` of `/api/v1/events`.
fn events_query(query: Option<&str>) -> Result<(i64, u32), ApiError> {
    let mut after = 0;
    let mut limit = DEFAULT_EVENTS;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*name {
            "after" => {
                after = value
                    .parse::<i64>()
                    .ok()
                    .filter(|after| *after >= 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "invalid `after` '{}': expected the id of the last event seen, a \
                             whole number (0 or none for the start of the log)",
                            quoted(&value)
                        ))
                    })?;
            }
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=MAX_EVENTS).contains(limit))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "invalid `limit` '{}': expected a whole number from 1 to \
                             {MAX_EVENTS} (default {DEFAULT_EVENTS})",
                            quoted(&value)
                        ))
                    })?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{}': /api/v1/events takes `after` and `limit`",
                    quoted(other)
                )));
            }
        }
    }
    Ok((after, limit))
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct Triggered {
    /// Deployments whose checks were queued.
    matched: usize,
    /// Pushes the delivery reported.
    pushes: usize,
    /// A GitHub delivery seen before (a redelivery): answered, not acted on again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

pub(super) async fn webhook(
    State(state): State<ApiState>,
    PathParam(source): PathParam,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let source: Source = source
        .parse()
        .map_err(|error: webhooks::UnknownSourceError| ApiError::not_found(error.to_string()))?;
    let body = body.inspect_err(|rejection| {
        state.metrics.webhooks_refused.inc();
        tracing::warn!(
            source = source.as_str(),
            status = rejection.status().as_u16(),
            "refused a webhook delivery whose body could not be read"
        );
    })?;
    // Never log `query`: it holds the token of unsigned sources.
    let pushes = match webhooks::parse(
        source,
        query.as_deref(),
        &headers,
        &body,
        &state.settings.webhooks,
    ) {
        Ok(pushes) => pushes,
        Err(error) => {
            state.metrics.webhooks_refused.inc();
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let message = chain(&error);
            tracing::warn!(
                source = source.as_str(),
                status = status.as_u16(),
                error = %message,
                "refused a webhook delivery"
            );
            return Err(ApiError::new(status, message));
        }
    };
    state.metrics.webhooks_accepted.inc();
    let count = pushes.len();
    tracing::trace!(source = source.as_str(), ?pushes, "webhook delivery");
    // Only once authentic: strangers cannot fill the memory of deliveries.
    let delivery = headers
        .get("x-github-delivery")
        .and_then(|id| id.to_str().ok());
    if source == Source::GitHub
        && let Some(delivery) = delivery
        && !state.webhook_gate.first_delivery(delivery)
    {
        tracing::info!(
            delivery = %quoted(delivery),
            "ignored a GitHub delivery seen before (a redelivery)"
        );
        return Ok(json(
            StatusCode::OK,
            &Triggered {
                matched: 0,
                pushes: count,
                duplicate: true,
            },
        ));
    }
    let deployments = if pushes.is_empty() {
        Vec::new()
    } else {
        state.control.pushed_deployments(pushes).await
    };
    for deployment in &deployments {
        queue_pushed_check(&state, deployment).await;
    }
    tracing::debug!(
        source = source.as_str(),
        pushes = count,
        matched = deployments.len(),
        "accepted a webhook delivery"
    );
    Ok(json(
        StatusCode::ACCEPTED,
        &Triggered {
            matched: deployments.len(),
            pushes: count,
            duplicate: false,
        },
    ))
}

/// Queues the check of `deployment` a push asked for: now, or at the end of the webhook
/// interval when a push checked it less than that ago, or not at all when such a check is
/// already waiting.
async fn queue_pushed_check(state: &ApiState, deployment: &str) {
    let interval = state.settings.webhook_check_interval;
    match state
        .webhook_gate
        .admit(deployment, Instant::now(), interval)
    {
        Admission::Now => {
            if let Err(error) = state.control.check_now(deployment).await {
                tracing::warn!(%deployment, %error, "cannot queue a check a push asked for");
            }
        }
        Admission::After(wait) => {
            tracing::info!(
                %deployment,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "a push asked for a check soon after another; checking once the webhook interval ends"
            );
            let state = state.clone();
            let deployment = deployment.to_owned();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                state.webhook_gate.deferred_ran(&deployment, Instant::now());
                if let Err(error) = state.control.check_now(&deployment).await {
                    tracing::warn!(%deployment, %error, "cannot queue a check a push asked for");
                }
            });
        }
        Admission::Coalesced => {
            tracing::info!(
                %deployment,
                "a push asked for a check already waiting for the webhook interval's end; one check covers both"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fallbacks and extraction
// ---------------------------------------------------------------------------------------------

pub(super) async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {method} {}: GET /api/v1/openapi.json lists the routes",
        quoted(uri.path())
    ))
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}: the `Allow` header lists the methods that are, and \
             GET /api/v1/openapi.json describes them",
            quoted(uri.path())
        ),
    )
}

/// The one parameter of a route's path (`{id}`, `{source}`), with a JSON error when it cannot
/// be read (it is not UTF-8 once percent-decoded).
pub(super) struct PathParam(String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|rejection| {
                ApiError::bad_request(format!(
                    "cannot read the path: {}; percent-encode it as UTF-8",
                    rejection.body_text()
                ))
            })
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than {} KiB, the most the agent reads; send a \
                     smaller body",
                    MAX_BODY_BYTES / 1024
                ),
            )
        } else {
            Self::new(
                rejection.status(),
                format!("cannot read the request body: {}", rejection.body_text()),
            )
        }
    }
}

/// Reads a JSON request body; the message shows `example` on failure.
fn json_body<T: DeserializeOwned>(body: &[u8], example: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "cannot read the JSON body ({error}): send a body such as {example}"
        ))
    })
}

/// A time as the API writes it: RFC 3339 in UTC, such as `2025-11-24T09:30:00Z`.
fn time(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
