//! The bearer token of the routes that change something, and the layer that asks for it.

use std::fmt;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use http::header::AUTHORIZATION;
use sha2::Sha256;

use super::ApiState;
use super::error::ApiError;

/// The agent's API token: the secret that `Authorization: Bearer` must carry.
///
/// It has no `==`: the only comparison is the constant-time one of the routes. `Debug` does
/// not show it.
#[derive(Clone)]
pub struct ApiToken(Box<[u8]>);

impl ApiToken {
    /// The token, or `None` when it is empty (an empty token would accept `Bearer `).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.is_empty()).then(|| Self(token.into_bytes().into_boxed_slice()))
    }

    /// True when `presented` is this token, in time that depends on neither.
    ///
    /// Both sides are MACed under one fixed key and the tags compared with `verify_slice`,
    /// which is constant time; comparing tags of equal length also hides the token's length.
    fn matches(&self, presented: &[u8]) -> bool {
        const KEY: &[u8] = b"upkeep api token comparison";
        let expected = mac(KEY, &self.0).finalize().into_bytes();
        mac(KEY, presented).verify_slice(&expected).is_ok()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// The layer of [`Access::BearerToken`](super::Access::BearerToken) routes: passes the request
/// on only with the configured token.
pub(super) async fn require_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            // The path only: the query string is not the API's to log.
            tracing::warn!(
                method = %request.method(),
                path = request.uri().path(),
                status = error.status().as_u16(),
                "refused an API request without the right token"
            );
            error.into_response()
        }
    }
}

/// The layer of [`Access::Reader`](super::Access::Reader) routes: with `read_token` set,
/// passes the request on only with the configured token.
pub(super) async fn require_token_to_read(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    if state.settings.read_token {
        require_token(State(state), request, next).await
    } else {
        next.run(request).await
    }
}

/// The names a loopback API always answers to.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The layer of every route: with [`ApiSettings::allowed_hosts`](super::ApiSettings) set,
/// answers 421 to a request for another `Host`.
///
/// A request without `Host` passes: browsers, through which DNS rebinding reaches a loopback
/// service, always send it, and some plain HTTP/1.0 probes do not.
pub(super) async fn require_allowed_host(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(allowed) = &state.settings.allowed_hosts else {
        return next.run(request).await;
    };
    // An absolute request target (`GET http://name/ HTTP/1.1`) names the host the client
    // meant, whatever the header says.
    let host = match request.uri().authority() {
        Some(authority) => Some(authority.as_str().to_owned()),
        None => request
            .headers()
            .get(http::header::HOST)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
    };
    let Some(host) = host else {
        return next.run(request).await;
    };
    let name = host_name(&host).to_ascii_lowercase();
    if LOOPBACK_NAMES.contains(&name.as_str()) || allowed.contains(&name) {
        return next.run(request).await;
    }
    tracing::warn!(
        host = %super::error::quoted(&host),
        path = request.uri().path(),
        "refused a request for a host name the agent does not answer to"
    );
    ApiError::new(
        http::StatusCode::MISDIRECTED_REQUEST,
        format!(
            "this agent does not answer to the name '{}': it answers to localhost, 127.0.0.1, \
             [::1]{} only, as a guard against DNS rebinding; add the name to `allowed_hosts` in \
             the agent's configuration to reach it by that name",
            super::error::quoted(&name),
            allowed
                .iter()
                .map(|name| format!(", {name}"))
                .collect::<String>()
        ),
    )
    .into_response()
}

/// The host of a `Host` header or authority, without its port: `[::1]:8686` is `[::1]`.
fn host_name(host: &str) -> &str {
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => name,
        _ => host,
    }
}

fn check(state: &ApiState, request: &Request) -> Result<(), ApiError> {
    let Some(token) = &state.settings.api_token else {
        return Err(ApiError::forbidden(
            "this route changes the agent's state and is disabled: set api_token_env in the \
             configuration to enable it, then send the token as `Authorization: Bearer <token>`",
        ));
    };
    let header = request.headers().get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "missing `Authorization: Bearer <token>` header: send the token of the \
                 environment variable that api_token_env names",
        )
    })?;
    // The scheme is case-insensitive (RFC 9110); the token is taken as it is.
    let presented = header
        .as_bytes()
        .split_at_checked(7)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(b"bearer "))
        .map(|(_, presented)| presented)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "malformed `Authorization` header: expected `Bearer <token>`, with the token of \
                 the environment variable that api_token_env names",
            )
        })?;
    if token.matches(presented) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "wrong bearer token: send the token of the environment variable that api_token_env \
             names",
        ))
    }
}

fn mac(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        for (host, name) in [
            ("localhost", "localhost"),
            ("localhost:8686", "localhost"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("[::1]:8686", "[::1]"),
            ("[::1]", "[::1]"),
            ("evil.example:8686", "evil.example"),
            ("user@localhost:1", "localhost"),
            ("evil.example:x", "evil.example:x"),
        ] {
            assert_eq!(host_name(host), name, "{host}");
        }
    }

    #[test]
    fn tokens_match_only_themselves() {
        let Some(token) = ApiToken::new("s3cret") else {
            panic!("a non-empty token is a token")
        };
        assert!(token.matches(b"s3cret"));
        for other in [&b""[..], b"s3cre", b"s3cret ", b"S3CRET", b"s3cret\n"] {
            assert!(!token.matches(other), "{other:?}");
        }
        assert!(ApiToken::new("").is_none());
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
    }
}
