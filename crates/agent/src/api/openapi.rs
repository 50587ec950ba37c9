//! The OpenAPI 3.0 document of the API, written by hand: what clients and people read to use
//! it. A test checks that it describes every route of [`ROUTES`](super::ROUTES), and nothing
//! else.

use serde_json::{Value, json};
use upkeep_versioning_core::policy::Policy;

use crate::store::DeploymentSource;
use crate::webhooks::Source;

/// The document served at `/api/v1/openapi.json`.
pub(super) fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "upkeep-agent",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of upkeep's daemon: health and metrics, the deployments it watches and their event log, and registry webhooks. Routes that change something need `Authorization: Bearer TOKEN` with the token of the environment variable that `api_token_env` names; without one configured they answer 403. With `read_token: true`, so do the routes that read (but `/health` and this document). Listening on loopback, the agent answers 421 to a `Host` other than localhost, 127.0.0.1, [::1] and the names in `allowed_hosts`. Every error is `{\"error\": \"...\"}`."
        },
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "parameters": {
                "DeploymentId": {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "The deployment's id, such as the service's name.",
                    "schema": {"type": "string"}
                }
            },
            "responses": error_responses(),
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The agent's API token, from the environment variable that `api_token_env` names."
                },
                "webhookToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "Docker Hub, Quay and Distribution: the webhook token, from the environment variable that `webhooks.token_env` names."
                },
                "githubSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Hub-Signature-256",
                    "description": "GitHub: the HMAC-SHA256 of the body under the secret that `webhooks.github_secret_env` names."
                }
            }
        }
    })
}

fn paths() -> Value {
    json!({
        "/health": {"get": health()},
        "/metrics": {"get": reading(metrics())},
        "/api/v1/openapi.json": {"get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": {
                "description": "The OpenAPI 3.0 document of the API.",
                "content": {"application/json": {"schema": {"type": "object"}}}
            }}
        }},
        "/api/v1/deployments": {"get": reading(json!({
            "operationId": "listDeployments",
            "summary": "Every deployment the agent watches, with its last check",
            "responses": {
                "200": ok("The deployments, by id.", "DeploymentList"),
                "500": reference("ServerError")
            }
        }))},
        "/api/v1/deployments/{id}": {"get": reading(json!({
            "operationId": "getDeployment",
            "summary": "One deployment, with its last check",
            "parameters": [{"$ref": "#/components/parameters/DeploymentId"}],
            "responses": {
                "200": ok("The deployment.", "Deployment"),
                "404": reference("NotFound"),
                "500": reference("ServerError")
            }
        }))},
        "/api/v1/deployments/{id}/policy": {"put": mutating(json!({
            "operationId": "setPolicy",
            "summary": "Set how far upkeep may move a deployment on its own",
            "requestBody": body("PolicyRequest", true),
            "responses": {
                "200": ok("The deployment with its new policy; the change is in the event log.", "Deployment"),
                "400": reference("BadRequest")
            }
        }))},
        "/api/v1/deployments/{id}/check": {"post": mutating(json!({
            "operationId": "checkDeployment",
            "summary": "Check a deployment's registry now, ahead of its interval",
            "responses": {
                "202": ok("The check is queued; its result will be in the deployment's `last_check`.", "Queued")
            }
        }))},
        "/api/v1/deployments/{id}/apply": {"post": mutating(json!({
            "operationId": "applyUpdate",
            "summary": "Update a deployment now, to a tag or to the target its last check planned",
            "description": "Runs outside the update window and minimum age, with the engine's health checks and automatic rollback. Answers when the update is done. The update runs on its own task: a client that disconnects before the answer does not stop it; it finishes, and its outcome is in the event log (`applied_by_api`, or `apply_failed_by_api` with the reason).",
            "requestBody": body("ApplyRequest", false),
            "responses": {
                "200": ok("What the update did.", "Outcome"),
                "400": reference("BadRequest"),
                "409": reference("Conflict")
            }
        }))},
        "/api/v1/deployments/{id}/rollback": {"post": mutating(json!({
            "operationId": "rollBack",
            "summary": "Move a deployment back to the version it ran before its last update",
            "description": "Answers when the rollback is done. It runs on its own task: a client that disconnects before the answer does not stop it; it finishes, and its outcome is in the event log (`rolled_back_by_api`, or `rollback_failed_by_api` with the reason).",
            "responses": {
                "200": ok("What the rollback did.", "Outcome"),
                "409": reference("Conflict")
            }
        }))},
        "/api/v1/events": {"get": reading(json!({
            "operationId": "listEvents",
            "summary": "The event log, oldest first, a page at a time",
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "description": "Return events with an id greater than this: 0 for the start of the log, then the `next_after` of the previous page.",
                    "schema": {"type": "integer", "format": "int64", "minimum": 0, "default": 0}
                },
                {
                    "name": "limit",
                    "in": "query",
                    "description": "The most events to return.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
                }
            ],
            "responses": {
                "200": ok("A page of events.", "EventPage"),
                "400": reference("BadRequest"),
                "500": reference("ServerError")
            }
        }))},
        "/webhooks/{source}": {"post": webhook()}
    })
}

fn health() -> Value {
    json!({
        "operationId": "health",
        "summary": "Whether the agent can work: its database and Docker answer",
        "responses": {
            "200": ok("The database and Docker answer.", "Health"),
            "503": ok("The database or Docker does not answer; `database` and `docker` say which.", "Health")
        }
    })
}

fn metrics() -> Value {
    json!({
        "operationId": "metrics",
        "summary": "Counters in Prometheus's text exposition format",
        "description": "Counters (`upkeep_agent_checks_total`, `upkeep_agent_updates_applied_total`, `upkeep_agent_rollbacks_total`, `upkeep_agent_updates_interrupted_total`, `upkeep_agent_registry_requests_total`, `upkeep_agent_registry_rate_limited_total`, `upkeep_agent_notifications_sent_total`, `upkeep_agent_notifications_failed_total`, `upkeep_agent_webhooks_accepted_total`, `upkeep_agent_webhooks_refused_total`), the gauge `upkeep_agent_last_cycle_duration_seconds` and the summary `upkeep_agent_cycle_duration_seconds`.",
        "responses": {"200": {
            "description": "The metrics.",
            "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}
        }}
    })
}

fn webhook() -> Value {
    json!({
        "operationId": "webhook",
        "summary": "A registry's push notification: check the deployments of the pushed image now",
        "description": "Docker Hub, Quay and Distribution put the webhook token in the URL's `token` parameter; GitHub signs the body with `X-Hub-Signature-256`. Only pushes from the registries in `webhooks.registries` are accepted. Bodies are limited to 1 MiB. A deployment is checked at most once per 30 s by pushes: later pushes within that time are folded into one check at its end. A GitHub delivery whose `X-GitHub-Delivery` was seen before is answered 200 and not acted on again.",
        "security": [{"webhookToken": []}, {"githubSignature": []}],
        "parameters": [{
            "name": "source",
            "in": "path",
            "required": true,
            "description": "Who sends the delivery.",
            "schema": {"type": "string", "enum": Source::ALL.map(Source::as_str)}
        }],
        "requestBody": {
            "required": true,
            "description": "The sender's own payload, as it sends it.",
            "content": {"application/json": {"schema": {"type": "object"}}}
        },
        "responses": {
            "200": ok("A GitHub delivery seen before (a redelivery): nothing is done again; `duplicate` is true.", "Triggered"),
            "202": ok("The delivery is genuine; checks of the matching deployments are queued.", "Triggered"),
            "400": reference("BadRequest"),
            "401": reference("Unauthorized"),
            "403": reference("Forbidden"),
            "404": reference("NotFound"),
            "413": reference("TooLarge")
        }
    })
}

/// A reading route: open, unless `read_token` is set; then it needs the API token.
fn reading(mut operation: Value) -> Value {
    operation["security"] = json!([{}, {"bearerToken": []}]);
    for (status, response) in [("401", "Unauthorized"), ("403", "Forbidden")] {
        operation["responses"][status] = reference(response);
    }
    operation
}

/// `operation` with the bearer token, the deployment id and the answers every changing
/// route of a deployment shares.
fn mutating(mut operation: Value) -> Value {
    operation["security"] = json!([{"bearerToken": []}]);
    operation["parameters"] = json!([{"$ref": "#/components/parameters/DeploymentId"}]);
    for (status, response) in [
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("404", "NotFound"),
        ("500", "ServerError"),
    ] {
        operation["responses"][status] = reference(response);
    }
    operation
}

fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": schema_ref(schema)}}
    })
}

fn body(schema: &str, required: bool) -> Value {
    json!({
        "required": required,
        "content": {"application/json": {"schema": schema_ref(schema)}}
    })
}

fn reference(response: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{response}")})
}

fn schema_ref(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

fn error_responses() -> Value {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": schema_ref("Error")}}
        })
    };
    json!({
        "BadRequest": error("The request cannot be read; the message says what to change."),
        "Unauthorized": error("The bearer token (or the webhook's token or signature) is missing or wrong."),
        "Forbidden": error("Disabled: no API token configured (set `api_token_env`), a webhook source without a secret, or a registry not allowed."),
        "NotFound": error("No such deployment, tag or webhook source."),
        "Conflict": error("Not now: an update of the deployment is running, or there is nothing to roll back to."),
        "TooLarge": error("The body is larger than 1 MiB."),
        "ServerError": error("The database, Docker or a registry failed; the message says what to check.")
    })
}

fn schemas() -> Value {
    let nullable_string = json!({"type": "string", "nullable": true});
    let time = json!({"type": "string", "format": "date-time"});
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string", "description": "What went wrong and what to do."}}
        },
        "Health": {
            "type": "object",
            "required": ["status", "version", "uptime_seconds", "database", "docker"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unhealthy"]},
                "version": {"type": "string"},
                "uptime_seconds": {"type": "integer"},
                "database": {"type": "boolean", "description": "Whether the database answers."},
                "docker": {"type": "boolean", "description": "Whether Docker answers."}
            }
        },
        "Deployment": {
            "type": "object",
            "required": ["id", "image", "current_tag", "current_digest", "policy", "source", "created_at", "updated_at", "last_check"],
            "properties": {
                "id": {"type": "string"},
                "image": {"type": "string", "description": "The repository, without tag or digest, such as `docker.io/library/nginx`."},
                "current_tag": {"type": "string"},
                "current_digest": nullable_string,
                "policy": policy(),
                "source": {"type": "string", "enum": DeploymentSource::ALL.map(DeploymentSource::as_str)},
                "created_at": time,
                "updated_at": time,
                "last_check": {
                    "allOf": [schema_ref("Check")],
                    "nullable": true,
                    "description": "The newest registry check; null until the first."
                }
            }
        },
        "Check": {
            "type": "object",
            "required": ["checked_at", "current_tag", "target", "kind", "error"],
            "properties": {
                "checked_at": time,
                "current_tag": {"type": "string", "description": "The tag the deployment ran when checked."},
                "target": {"type": "string", "nullable": true, "description": "The tag to move to, if the check found one."},
                "kind": {"type": "string", "description": "The kind of move to `target`: none, build, prerelease, patch, minor, major, downgrade or unknown."},
                "error": {"type": "string", "nullable": true, "description": "Why the check failed, if it did."}
            }
        },
        "DeploymentList": {
            "type": "object",
            "required": ["deployments", "not_watched"],
            "properties": {
                "deployments": {"type": "array", "items": schema_ref("Deployment")},
                "not_watched": {
                    "type": "array",
                    "description": "Configured deployments the agent cannot watch yet, with what to do.",
                    "items": schema_ref("NotWatched")
                }
            }
        },
        "NotWatched": {
            "type": "object",
            "required": ["id", "image", "container", "state", "fix"],
            "properties": {
                "id": {"type": "string"},
                "image": {"type": "string"},
                "container": {"type": "string", "description": "The container the configuration names."},
                "state": {"type": "string", "enum": ["container missing"]},
                "fix": {"type": "string", "description": "What to do about it."}
            }
        },
        "PolicyRequest": {
            "type": "object",
            "required": ["policy"],
            "additionalProperties": false,
            "properties": {"policy": policy()}
        },
        "ApplyRequest": {
            "type": "object",
            "additionalProperties": false,
            "properties": {"tag": {"type": "string", "description": "The tag to update to; without it, the target of the last check."}}
        },
        "Queued": {
            "type": "object",
            "required": ["deployment", "queued"],
            "properties": {"deployment": {"type": "string"}, "queued": {"type": "boolean"}}
        },
        "Outcome": {
            "type": "object",
            "required": ["deployment", "outcome"],
            "properties": {
                "deployment": {"type": "string"},
                "outcome": {"type": "object", "description": "What the daemon did, in its own words."}
            }
        },
        "Event": {
            "type": "object",
            "required": ["id", "at", "deployment", "kind", "from_tag", "to_tag", "message"],
            "properties": {
                "id": {"type": "integer", "format": "int64"},
                "at": time,
                "deployment": nullable_string,
                "kind": {"type": "string", "description": "What happened, such as `applied`, `rolled_back` or `policy_changed`."},
                "from_tag": nullable_string,
                "to_tag": nullable_string,
                "message": {"type": "string"}
            }
        },
        "EventPage": {
            "type": "object",
            "required": ["events", "next_after"],
            "properties": {
                "events": {"type": "array", "items": schema_ref("Event")},
                "next_after": {"type": "integer", "format": "int64", "description": "The `after` of the next page."}
            }
        },
        "Triggered": {
            "type": "object",
            "required": ["matched", "pushes"],
            "properties": {
                "matched": {"type": "integer", "description": "Deployments whose checks were queued."},
                "pushes": {"type": "integer", "description": "Image pushes the delivery reported."},
                "duplicate": {"type": "boolean", "description": "Present and true when the delivery was seen before and not acted on again."}
            }
        }
    })
}

fn policy() -> Value {
    json!({
        "type": "string",
        "enum": Policy::ALL.map(Policy::as_str)
    })
}
