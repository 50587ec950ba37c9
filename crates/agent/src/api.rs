//! The agent's HTTP API: health and metrics for monitoring, the deployments and their event
//! log for people and scripts, and the registries' webhooks.
//!
//! [`router`] builds an axum [`Router`] over an [`ApiState`]; the daemon serves it on its
//! `listen` address, and tests call it as a service without opening a port. The routes are
//! listed once, in [`ROUTES`]: that table builds the router, and a test checks that the
//! OpenAPI document served at `/api/v1/openapi.json` describes every route in it.
//!
//! | Method | Path | Access | Answers |
//! |---|---|---|---|
//! | GET | `/health` | anyone | 200, or 503 when the database or Docker does not answer (a probe at most 1 s old) |
//! | GET | `/metrics` | readers | Prometheus's text format ([`Metrics`]) |
//! | GET | `/api/v1/openapi.json` | anyone | the OpenAPI 3.0 document of these routes |
//! | GET | `/api/v1/deployments` | readers | every deployment with its last check, and those whose container is missing |
//! | GET | `/api/v1/deployments/{id}` | readers | one deployment; 404 when unknown |
//! | PUT | `/api/v1/deployments/{id}/policy` | token | `{"policy": "auto_patch"}`; 400 for an unknown word |
//! | POST | `/api/v1/deployments/{id}/check` | token | 202: the daemon checks it soon |
//! | POST | `/api/v1/deployments/{id}/apply` | token | updates now, to `{"tag": "1.2.3"}` or the planned target |
//! | POST | `/api/v1/deployments/{id}/rollback` | token | goes back to the previous version |
//! | GET | `/api/v1/events?after=ID&limit=N` | readers | the event log, a page at a time |
//! | POST | `/webhooks/{source}` | the webhook's secret | 202 `{"matched": n}` |
//!
//! Checks, updates and rollbacks run on their own tasks, which the handlers wait for: a client
//! that disconnects (a proxy timing out, Ctrl-C) drops only its wait, and the change finishes
//! and logs its outcome in the event log.
//!
//! # Access
//!
//! Reading needs no credentials, unless `read_token` is set: then the routes marked
//! "readers" need the token too (`/health` and the OpenAPI document stay open). The routes
//! that change something need
//! `Authorization: Bearer TOKEN`, where TOKEN is the agent's `api_token` (from the variable
//! that `api_token_env` names), compared in constant time; a wrong or missing token gets 401.
//! Without a configured token those routes answer 403: a missing setting closes them rather
//! than opening them. Webhooks carry their own credentials, checked by
//! [`webhooks::parse`].
//!
//! Listening on loopback, the API answers only requests whose `Host` is `localhost`,
//! `127.0.0.1`, `[::1]` (any port) or a name of `allowed_hosts`, and others 421: a web page
//! whose name an attacker points at 127.0.0.1 (DNS rebinding) cannot reach it from a
//! browser, which always sends the page's own name.
//!
//! # Errors
//!
//! Every error, including unknown routes and methods, is JSON: `{"error": "..."}`, with a
//! message that says what to fix.
//!
//! # What this module does not do
//!
//! It decides and runs nothing: checks, updates and rollbacks go to the daemon through
//! [`Control`], which queues or runs them. It does not bind a socket or terminate TLS (put a
//! proxy in front for TLS). It logs no request URIs: webhook URLs carry their token in the
//! query string.

mod auth;
mod error;
mod gate;
mod handlers;
mod metrics;
mod openapi;
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodFilter, MethodRouter, on};
use upkeep_versioning_core::clock::{Clock, SystemClock};
use upkeep_versioning_core::reference::Tag;

use crate::config::AgentConfig;
use crate::store::Store;
use crate::webhooks::{self, RegistryAllowlist, WebhookConfig, WebhookSecret, WebhookSecrets};

pub use auth::ApiToken;
pub use metrics::{Counter, Metrics};
pub use server::{ServerLimits, serve};

/// The largest request body read, webhook deliveries included; larger ones get 413. Registry
/// deliveries are a few KiB; Distribution batches events, but stays far below this.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Builds the API's router over `state`, from [`ROUTES`].
///
/// Unknown paths answer 404 and known paths with another method 405, both with a JSON error.
pub fn router(state: ApiState) -> Router {
    let mut router = Router::new();
    for route in &ROUTES {
        let mut endpoint = (route.handler)(route.method.filter());
        if !route.runs_a_change() {
            endpoint = endpoint.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                handlers::within_request_timeout,
            ));
        }
        if route.access == Access::Reader {
            endpoint = endpoint.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::require_token_to_read,
            ));
        }
        if route.access == Access::BearerToken {
            endpoint = endpoint.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::require_token,
            ));
        }
        router = router.route(route.path, endpoint);
    }
    router
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_allowed_host,
        ))
        .with_state(state)
}

/// Every route of the API, in the order of the OpenAPI document.
pub const ROUTES: [Route; 11] = [
    Route {
        method: RouteMethod::Get,
        path: "/health",
        access: Access::Anyone,
        handler: |method| on(method, handlers::health),
    },
    Route {
        method: RouteMethod::Get,
        path: "/metrics",
        access: Access::Reader,
        handler: |method| on(method, handlers::metrics),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/v1/openapi.json",
        access: Access::Anyone,
        handler: |method| on(method, handlers::openapi),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/v1/deployments",
        access: Access::Reader,
        handler: |method| on(method, handlers::deployments),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/v1/deployments/{id}",
        access: Access::Reader,
        handler: |method| on(method, handlers::deployment),
    },
    Route {
        method: RouteMethod::Put,
        path: "/api/v1/deployments/{id}/policy",
        access: Access::BearerToken,
        handler: |method| on(method, handlers::set_policy),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/v1/deployments/{id}/check",
        access: Access::BearerToken,
        handler: |method| on(method, handlers::check),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/v1/deployments/{id}/apply",
        access: Access::BearerToken,
        handler: |method| on(method, handlers::apply),
    },
    Route {
        method: RouteMethod::Post,
        path: "/api/v1/deployments/{id}/rollback",
        access: Access::BearerToken,
        handler: |method| on(method, handlers::rollback),
    },
    Route {
        method: RouteMethod::Get,
        path: "/api/v1/events",
        access: Access::Reader,
        handler: |method| on(method, handlers::events),
    },
    Route {
        method: RouteMethod::Post,
        path: "/webhooks/{source}",
        access: Access::WebhookSecret,
        handler: |method| on(method, handlers::webhook),
    },
];

/// One route of the API: its method, path, who may call it, and the handler that answers.
#[derive(Clone, Copy)]
pub struct Route {
    method: RouteMethod,
    path: &'static str,
    access: Access,
    /// The handler, routed for the method given; taking the method keeps the two from
    /// disagreeing.
    handler: fn(MethodFilter) -> MethodRouter<ApiState>,
}

impl Route {
    /// The method.
    pub fn method(&self) -> RouteMethod {
        self.method
    }

    /// The path, with parameters in braces (`/api/v1/deployments/{id}`), the syntax of both
    /// axum and OpenAPI.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// Who may call it.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Whether it checks, updates or rolls back a deployment: such a request runs as long as
    /// its change does, not within [`ApiSettings::request_timeout`].
    pub fn runs_a_change(&self) -> bool {
        self.method == RouteMethod::Post && self.path.starts_with("/api/v1/deployments/")
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({:?})",
            self.method.as_str(),
            self.path,
            self.access
        )
    }
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteMethod {
    /// `GET`: reads; never changes anything.
    Get,
    /// `PUT`: sets a value.
    Put,
    /// `POST`: asks for an action.
    Post,
}

impl RouteMethod {
    /// The method's name as in a request line: `GET`, `PUT`, `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Post => "POST",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Put => MethodFilter::PUT,
            Self::Post => MethodFilter::POST,
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Anyone who can reach the agent.
    Anyone,
    /// Anyone, unless [`ApiSettings::read_token`] is set: then callers with the API token.
    Reader,
    /// Callers with the agent's API token, as `Authorization: Bearer TOKEN`; see the
    /// [module docs](self).
    BearerToken,
    /// Senders with the webhook secret of their source; see [`webhooks`].
    WebhookSecret,
}

/// What the handlers share: the store, the daemon, the metrics and the API's settings.
///
/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct ApiState {
    store: Store,
    control: Arc<dyn Control>,
    metrics: Arc<Metrics>,
    settings: Arc<ApiSettings>,
    clock: Arc<dyn Clock>,
    started: Instant,
    health: Arc<handlers::HealthCache>,
    webhook_gate: Arc<gate::WebhookGate>,
}

impl ApiState {
    /// The state of an API over `store` that hands actions to `control` and renders
    /// `metrics` (which the daemon keeps a clone of, to count what it does).
    pub fn new(
        store: Store,
        control: Arc<dyn Control>,
        metrics: Arc<Metrics>,
        settings: ApiSettings,
    ) -> Self {
        Self {
            store,
            control,
            metrics,
            settings: Arc::new(settings),
            clock: Arc::new(SystemClock),
            started: Instant::now(),
            health: Arc::default(),
            webhook_gate: Arc::default(),
        }
    }

    /// Reads the time of the changes it records (a policy set through the API) from `clock`
    /// instead of the system, for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The metrics `/metrics` renders.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// The API's own settings: who may change things, who may send webhooks, how long a request
/// may take.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The bearer token of the routes that change something; `None` closes them (403).
    pub api_token: Option<ApiToken>,
    /// Whether the [`Access::Reader`] routes need the token too.
    pub read_token: bool,
    /// The `Host` names the API answers to beside `localhost`, `127.0.0.1` and `[::1]`,
    /// lower-case and without port; `None` answers any (an agent not on loopback, where the
    /// token guards it).
    pub allowed_hosts: Option<Vec<String>>,
    /// The webhooks' secrets and the registries whose pushes are accepted.
    pub webhooks: WebhookConfig,
    /// The least time between two checks of a deployment triggered by webhooks; pushes in
    /// between are folded into one check at its end.
    pub webhook_check_interval: Duration,
    /// How long a request may take, reading its body included, before it is answered 503;
    /// checks, updates and rollbacks ([`Route::runs_a_change`]) are exempt.
    pub request_timeout: Duration,
}

/// The default [`ApiSettings::request_timeout`]: far above any answer the agent makes, low
/// enough that a client trickling a body does not hold a connection for long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The default [`ApiSettings::webhook_check_interval`]: a burst of pushes (the tags of one
/// release, a multi-arch build) asks for one check, not one each.
pub const WEBHOOK_CHECK_INTERVAL: Duration = Duration::from_secs(30);

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            api_token: None,
            read_token: false,
            allowed_hosts: None,
            webhooks: WebhookConfig::default(),
            request_timeout: REQUEST_TIMEOUT,
            webhook_check_interval: WEBHOOK_CHECK_INTERVAL,
        }
    }
}

impl ApiSettings {
    /// The settings of the agent's configuration: `api_token_env`, `read_token`,
    /// `allowed_hosts` (checked when listening on loopback, or when given), and `webhooks`:
    /// GitHub's secret, and each of Docker Hub, Quay and Distribution its own token or else
    /// the shared `token_env`.
    pub fn from_config(config: &AgentConfig) -> Self {
        let webhooks = &config.webhooks;
        let own_or_shared = |own: &Option<String>| {
            own.clone()
                .or_else(|| webhooks.token.clone())
                .and_then(WebhookSecret::new)
        };
        Self {
            api_token: config.api_token.clone().and_then(ApiToken::new),
            read_token: config.read_token,
            allowed_hosts: (config.listen.ip().is_loopback() || !config.allowed_hosts.is_empty())
                .then(|| config.allowed_hosts.clone()),
            webhooks: WebhookConfig {
                secrets: WebhookSecrets {
                    github: webhooks.github_secret.clone().and_then(WebhookSecret::new),
                    docker_hub: own_or_shared(&webhooks.docker_hub_token),
                    quay: own_or_shared(&webhooks.quay_token),
                    distribution: own_or_shared(&webhooks.distribution_token),
                },
                allowed_registries: RegistryAllowlist::new(&webhooks.registries),
            },
            ..Self::default()
        }
    }
}

/// What the API asks of the daemon: the actions it cannot take itself, because the daemon's
/// loop owns the engine, and whether Docker answers.
///
/// The API checks credentials and that the deployment is in the store before it calls
/// anything here. Messages of [`ControlError`] are shown to the caller as they are: say what
/// went wrong and what to do.
#[async_trait::async_trait]
pub trait Control: Send + Sync {
    /// Queues a check of `deployment` against its registry, ahead of its interval, and
    /// returns once it is queued; the result lands in the store and the event log.
    /// The route answers 202.
    async fn check_now(&self, deployment: &str) -> Result<(), ControlError>;

    /// Updates `deployment` now, within its policy's safety checks but outside its window and
    /// minimum age: to `tag` when given, else to the target its last check planned. Returns
    /// when the update is done (or rolled back), with a JSON description of the outcome that
    /// the route answers with 200. The route runs it on its own task, so it ends even when
    /// the caller has gone: log the outcome in the event log, a failure included.
    async fn apply(
        &self,
        deployment: &str,
        tag: Option<Tag>,
    ) -> Result<serde_json::Value, ControlError>;

    /// Moves `deployment` back to the version it ran before its last update, and returns when
    /// done, with a JSON description of the outcome that the route answers with 200. Runs on
    /// its own task, as [`apply`](Self::apply) does, and logs its outcome as it does.
    async fn rollback(&self, deployment: &str) -> Result<serde_json::Value, ControlError>;

    /// Whether the Docker daemon answers, for `/health`. The route gives up after a few
    /// seconds and counts a slow answer as unreachable, and asks at most once a second,
    /// however many requests come.
    async fn docker_reachable(&self) -> bool;

    /// The deployments whose image is one of the pushed repositories
    /// ([`Push::name`](webhooks::Push::name) equals the image's `registry/repository`). The
    /// route queues their checks through [`check_now`](Self::check_now), at most one per
    /// deployment per [`ApiSettings::webhook_check_interval`], and answers 202 with their
    /// number. The pushes are authentic and from allowed registries, but only hints: the check
    /// re-reads the tags from the registry.
    async fn pushed_deployments(&self, pushes: Vec<webhooks::Push>) -> Vec<String>;

    /// The configured deployments whose container the daemon has not taken over (it does not
    /// exist yet): `/api/v1/deployments` lists them apart, with the fix. None by default.
    async fn without_container(&self) -> Vec<WithoutContainer> {
        Vec::new()
    }
}

/// A configured deployment whose container does not exist (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithoutContainer {
    /// The deployment's id.
    pub id: String,
    /// Its image repository.
    pub image: String,
    /// The container it names.
    pub container: String,
}

/// Why the daemon did not carry out an action; each kind has its HTTP status
/// ([`ControlError::status`]), and the message is the answer's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The daemon does not manage the deployment, or the tag asked for does not exist: 404.
    #[error("{message}")]
    NotFound {
        /// What was not found, and where to look.
        message: String,
    },
    /// The request cannot be carried out as asked, such as a tag the deployment's scheme
    /// does not read: 400.
    #[error("{message}")]
    Rejected {
        /// Why, and what to ask instead.
        message: String,
    },
    /// Not now: an update of the deployment is already running, or there is nothing to roll
    /// back to: 409.
    #[error("{message}")]
    Conflict {
        /// What is in the way, and when to try again.
        message: String,
    },
    /// It was tried and failed, such as Docker or the registry not answering: 500.
    #[error("{message}")]
    Failed {
        /// What failed, and what to check.
        message: String,
    },
}

impl ControlError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::Rejected { .. } => 400,
            Self::Conflict { .. } => 409,
            Self::Failed { .. } => 500,
        }
    }
}
