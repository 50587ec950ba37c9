//! The API's error answers: a status and `{"error": "..."}`, whose message says what to fix.

use std::error::Error;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use serde::Serialize;

use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(super) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// No deployment `id` in the store.
    pub(super) fn unknown_deployment(id: &str) -> Self {
        Self::not_found(format!(
            "no deployment '{}': GET /api/v1/deployments lists the deployments the agent watches",
            quoted(id)
        ))
    }

    /// A database failure. The caller gets the store's own message, which says what to
    /// check; the driver's cause, which can quote SQL and server details, goes to the log only.
    pub(super) fn store(error: StoreError) -> Self {
        if let StoreError::UnknownDeployment { id } = &error {
            return Self::unknown_deployment(id);
        }
        tracing::error!(error = %chain(&error), "the API could not use the database");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }

    pub(super) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        let mut response = json(
            self.status,
            &Body {
                error: &self.message,
            },
        );
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme it wants.
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `value` as a JSON answer with `status`.
pub(super) fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        // The API's own types always serialise; this is only not to panic if one ever fails.
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            format!(
                r#"{{"error":"the agent could not write its answer as JSON ({}); report this as a bug"}}"#,
                error.to_string().replace(['"', '\\'], "'")
            ),
        )
            .into_response(),
    }
}

/// `error` and its causes, joined by `: `.
pub(super) fn chain(error: &dyn Error) -> String {
    upkeep_update_engine::error_chain(error)
}

/// Text from a request, shortened for a message.
pub(super) fn quoted(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}
