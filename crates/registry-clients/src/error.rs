//! Typed registry errors: what went wrong, with which registry and repository.

use std::time::Duration;

/// A failed registry operation. The message names the registry and, where there is one, the
/// repository; the cause (an HTTP or IO error) is kept as the [`source`](std::error::Error::source)
/// and not repeated in the message.
#[derive(Debug)]
pub struct RegistryError {
    registry: String,
    repository: Option<String>,
    kind: Box<ErrorKind>,
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, from {}{}",
            self.kind,
            self.registry,
            repository_suffix(self.repository.as_deref())
        )
    }
}

impl std::error::Error for RegistryError {
    /// The kind's own cause (such as the HTTP error of [`ErrorKind::Transport`]); the kind
    /// itself is already in the message.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.kind)
    }
}

fn repository_suffix(repository: Option<&str>) -> String {
    repository.map_or_else(String::new, |repository| {
        format!(" for repository '{repository}'")
    })
}

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The repository, tag or digest does not exist (or is hidden from these credentials:
    /// registries answer 401, 403 and 404 interchangeably for private repositories).
    #[error("{what} not found{}", code_suffix(.code.as_deref()))]
    NotFound {
        /// What was looked for, such as "manifest '1.2.3'" or "repository".
        what: String,
        /// The registry's error code, such as `MANIFEST_UNKNOWN`.
        code: Option<String>,
    },
    /// Authentication is required, or the credentials were refused.
    #[error("authentication failed{}: {message}", code_suffix(.code.as_deref()))]
    Unauthorized {
        /// The registry's or token server's message.
        message: String,
        /// The registry's error code.
        code: Option<String>,
    },
    /// Authenticated, but not allowed.
    #[error("access denied: {message}")]
    Denied {
        /// The registry's message.
        message: String,
    },
    /// The registry asks to slow down.
    #[error("rate limited{}", retry_suffix(*.retry_after))]
    RateLimited {
        /// How long the registry asked to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The request could not be made or its answer not received (DNS, TLS, timeout, reset).
    #[error("request failed")]
    Transport(#[source] reqwest::Error),
    /// The registry answered with something that is not what the API promises.
    #[error("malformed response: {reason}")]
    Malformed {
        /// What was wrong with it.
        reason: String,
    },
    /// The body's digest is not the digest the registry or the caller named.
    #[error("digest mismatch: expected {expected}, the body hashes to {actual}")]
    DigestMismatch {
        /// The digest that was promised.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// The registry failed (5xx) and retries did not help.
    #[error("server error {status}{}", message_suffix(.message))]
    Server {
        /// The HTTP status.
        status: u16,
        /// The registry's message, if any.
        message: String,
    },
    /// Any other refusal (4xx) with the registry's code and message.
    #[error("request refused with status {status}{}: {message}", code_suffix(.code.as_deref()))]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The registry's error code.
        code: Option<String>,
        /// The registry's message.
        message: String,
    },
    /// Plain HTTP was asked for (by a token realm or a redirect) to a host that is neither
    /// loopback nor listed as insecure; nothing was sent there.
    #[error(
        "refusing plain HTTP to {url}: the host is not loopback; list it as an insecure \
         registry (--insecure-registry HOST) if you trust the network"
    )]
    InsecureRefused {
        /// The `http://` URL that was not requested.
        url: String,
    },
    /// A listing's next-page link points away from the registry (another scheme, host or
    /// port); it was not followed, so no request and no credentials went there.
    #[error(
        "the next page link {link} leaves the registry at {origin}; pages are only followed \
         on the registry's own scheme, host and port"
    )]
    CrossOriginLink {
        /// The link as the registry gave it, resolved against the request.
        link: String,
        /// The registry's origin, `scheme://host:port`.
        origin: String,
    },
    /// A response body was longer than upkeep reads for its kind; reading stopped at the cap.
    #[error("the response from {url} is larger than {}; upkeep stops reading at that size", size_text(*.limit))]
    BodyTooLarge {
        /// The URL whose answer was cut off.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The request budget for this registry is spent.
    #[error("request budget of {budget} spent; try again later or raise the budget")]
    BudgetSpent {
        /// The budget.
        budget: u32,
    },
    /// A credential helper or credential file could not be used.
    #[error("credentials unavailable: {reason}")]
    Credentials {
        /// Why.
        reason: String,
    },
    /// A project name a release source cannot read (see
    /// [`ReleaseSource`](crate::releases::ReleaseSource)); nothing was requested.
    #[error("'{project}' is not a project name this source reads; expected {expected}")]
    InvalidProject {
        /// The name as given.
        project: String,
        /// The form the source reads, such as `'owner/repo'`.
        expected: &'static str,
    },
    /// The registry does not offer this operation.
    #[error("not supported by this registry: {operation}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
    },
}

/// `4 MiB`, `64 KiB` or `1000 bytes`: a cap as people write it.
pub(crate) fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

fn code_suffix(code: Option<&str>) -> String {
    code.map_or_else(String::new, |code| format!(" ({code})"))
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn retry_suffix(retry_after: Option<Duration>) -> String {
    retry_after.map_or_else(String::new, |wait| {
        format!("; retry after {} s", wait.as_secs_f64().ceil())
    })
}

impl RegistryError {
    /// An error of `kind` from `registry`, about `repository` when given.
    pub fn new(registry: impl Into<String>, repository: Option<&str>, kind: ErrorKind) -> Self {
        Self {
            registry: registry.into(),
            repository: repository.map(str::to_owned),
            kind: Box::new(kind),
        }
    }

    /// The registry host, such as `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository, when the operation had one.
    pub fn repository(&self) -> Option<&str> {
        self.repository.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// True for failures a retry may cure: transport errors, 5xx and rate limits.
    pub fn is_transient(&self) -> bool {
        matches!(
            &*self.kind,
            ErrorKind::Transport(_) | ErrorKind::Server { .. } | ErrorKind::RateLimited { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_written_as_people_write_them() {
        assert_eq!(size_text(4 * 1024 * 1024), "4 MiB");
        assert_eq!(size_text(64 * 1024), "64 KiB");
        assert_eq!(size_text(1536), "1536 bytes");
        assert_eq!(size_text(1000), "1000 bytes");
    }
}
