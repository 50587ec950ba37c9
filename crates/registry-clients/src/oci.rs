//! The generic OCI Distribution client: any registry that speaks the v2 API.
//!
//! It probes `/v2/` once, answers `WWW-Authenticate` challenges (Bearer tokens fetched and
//! cached per scope until they expire, or Basic credentials; a realm over plain HTTP only on
//! a host allowed it), pages tag listings by `Link` on the registry's own origin only, asks
//! for every manifest type it reads, reads every body under its cap, and checks every
//! manifest body against the digest asked for and the one announced (sha256 or sha512).
//! The hosted registries' extra APIs (Docker Hub's tag dates, Quay's active tags) are in
//! the `hosted` module; this client is their fallback and their v2 half.
//!
//! # What this client does not do
//! It never pushes or deletes, and it does not sort tags: the registry's order is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LINK, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha512};
use tokio::sync::Mutex;
use upkeep_versioning_core::reference::{Digest, DigestAlgorithm};
use upkeep_versioning_core::{TimeDelta, Timestamp};
use url::Url;

use crate::body::{self, MANIFEST_LIMIT, SMALL_LIMIT, TAG_PAGE_LIMIT};
use crate::challenge::{self, BearerChallenge, Challenge};
use crate::credentials::Credential;
use crate::error::{ErrorKind, RegistryError};
use crate::transport::Transport;
use crate::{
    MANIFEST_MEDIA_TYPES, Manifest, ManifestContent, Platform, PlatformManifest, Registry,
    TagMetadata,
};

/// Tags asked for per page. ECR refuses more than 1000.
const PAGE_SIZE: u32 = 1000;
/// A backstop against a registry whose `Link` never ends.
const MAX_PAGES: usize = 1000;
/// Tokens are renewed this long before they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// The token lifetime when the server does not say.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A client for one OCI Distribution registry.
pub struct OciRegistry {
    /// The host as written in image references (`docker.io`).
    host: String,
    /// The host requests go to (`registry-1.docker.io` for Docker Hub).
    api_host: String,
    transport: Transport,
    credential: Option<Credential>,
    state: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    /// `http(s)://api_host`, once probed.
    base: Option<Url>,
    /// The challenge `/v2/` answered with, if any.
    challenge: Option<Challenge>,
    /// Bearer tokens by scope.
    tokens: BTreeMap<String, CachedToken>,
}

struct CachedToken {
    token: String,
    renew_at: Timestamp,
}

impl std::fmt::Debug for OciRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciRegistry")
            .field("host", &self.host)
            .field("api_host", &self.api_host)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl OciRegistry {
    /// A client for `host`, sending its requests to `api_host` through `transport`, with the
    /// credential to use when the registry asks for one.
    pub fn new(
        host: &str,
        api_host: &str,
        transport: Transport,
        credential: Option<Credential>,
    ) -> Self {
        Self {
            host: host.to_owned(),
            api_host: api_host.to_owned(),
            transport,
            credential,
            state: Mutex::new(AuthState::default()),
        }
    }

    /// The transport, for its request count.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    fn error(&self, repository: Option<&str>, kind: ErrorKind) -> RegistryError {
        RegistryError::new(&self.host, repository, kind)
    }

    /// The base URL, probing `/v2/` the first time: plain HTTP for loopback hosts, HTTPS
    /// first and then plain HTTP for hosts listed as insecure, HTTPS only elsewhere.
    async fn base(&self) -> Result<Url, RegistryError> {
        let mut state = self.state.lock().await;
        if let Some(base) = &state.base {
            return Ok(base.clone());
        }
        let schemes: &[&str] = if crate::transport::is_loopback(&self.api_host) {
            &["http"]
        } else if self.transport.allows_plain_http(&self.api_host) {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last_error = None;
        for scheme in schemes {
            let base = Url::parse(&format!("{scheme}://{}/", self.api_host)).map_err(|error| {
                self.error(
                    None,
                    ErrorKind::Malformed {
                        reason: format!("registry host '{}' is not a URL: {error}", self.api_host),
                    },
                )
            })?;
            let ping = base.join("v2/").map_err(|error| {
                self.error(
                    None,
                    ErrorKind::Malformed {
                        reason: format!("cannot build the /v2/ URL: {error}"),
                    },
                )
            })?;
            match self
                .transport
                .send(None, |client| client.get(ping.clone()))
                .await
            {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::UNAUTHORIZED {
                        state.challenge =
                            challenge::preferred(&challenges(response.headers())).cloned();
                    } else if !status.is_success() {
                        return Err(self.status_error(None, "the v2 API", response).await);
                    }
                    state.base = Some(base.clone());
                    return Ok(base);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            self.error(
                None,
                ErrorKind::Malformed {
                    reason: "no scheme to reach the registry with".to_owned(),
                },
            )
        }))
    }

    /// Sends a request about `repository`, authenticating as the registry asks: with the
    /// cached token or credentials first, then, after a 401, once more with a fresh token.
    async fn send(
        &self,
        method: Method,
        repository: &str,
        url: &Url,
        accept: Option<&str>,
    ) -> Result<Response, RegistryError> {
        let scope = challenge::pull_scope(repository);
        let mut authorization = self.authorization(repository, &scope, None).await?;
        for attempt in 0..2 {
            let response = self
                .transport
                .send(Some(repository), |client| {
                    let mut request = client.request(method.clone(), url.clone());
                    if let Some(accept) = accept {
                        request = request.header(ACCEPT, accept);
                    }
                    if let Some(value) = &authorization {
                        request = request.header(AUTHORIZATION, value);
                    }
                    request
                })
                .await?;
            if response.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(response);
            }
            let challenges = challenges(response.headers());
            let Some(answer) = challenge::preferred(&challenges).cloned() else {
                return Ok(response);
            };
            if let Challenge::Bearer(bearer) = &answer
                && bearer.error.as_deref() == Some("invalid_token")
            {
                self.state.lock().await.tokens.remove(&scope);
            }
            let fresh = self.authorization(repository, &scope, Some(answer)).await?;
            if fresh.is_none() || fresh == authorization {
                // Nothing new to offer: the credentials themselves are refused.
                return Ok(response);
            }
            authorization = fresh;
        }
        Err(self.error(
            Some(repository),
            ErrorKind::Unauthorized {
                message: "the registry refused every credential offered".to_owned(),
                code: None,
            },
        ))
    }

    /// The `Authorization` value for a request in `scope`, from the challenge the registry
    /// gave (`fresh`, after a 401) or the one `/v2/` gave; `None` when none is needed or
    /// none can be made.
    async fn authorization(
        &self,
        repository: &str,
        scope: &str,
        fresh: Option<Challenge>,
    ) -> Result<Option<String>, RegistryError> {
        // The ping's challenge names no scope, or one for another repository (GHCR); only a
        // challenge answering this repository's request says what this request needs.
        let answers_this_request = fresh.is_some();
        let challenge = {
            let mut state = self.state.lock().await;
            if fresh.is_none()
                && let Some(cached) = state.tokens.get(scope)
                && cached.renew_at > self.transport.clock().now()
            {
                return Ok(Some(format!("Bearer {}", cached.token)));
            }
            match fresh {
                Some(challenge) => {
                    if state.challenge.is_none() {
                        state.challenge = Some(challenge.clone());
                    }
                    challenge
                }
                None => match &state.challenge {
                    Some(challenge) => challenge.clone(),
                    None => return Ok(None),
                },
            }
        };
        match challenge {
            Challenge::Basic { .. } => Ok(self.basic_authorization()),
            Challenge::Bearer(mut bearer) => {
                if !answers_this_request {
                    bearer.scope = None;
                }
                let token = self.fetch_token(repository, scope, &bearer).await?;
                Ok(Some(format!("Bearer {token}")))
            }
            Challenge::Other { .. } => Ok(None),
        }
    }

    fn basic_authorization(&self) -> Option<String> {
        match &self.credential {
            Some(Credential::Basic { username, password }) => {
                use base64::Engine as _;
                let pair = format!("{username}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            _ => None,
        }
    }

    /// Fetches a Bearer token for `scope` from the challenge's realm and caches it until
    /// shortly before it expires.
    async fn fetch_token(
        &self,
        repository: &str,
        scope: &str,
        bearer: &BearerChallenge,
    ) -> Result<String, RegistryError> {
        if let Some(Credential::RegistryToken(token)) = &self.credential {
            return Ok(token.clone());
        }
        let mut realm = Url::parse(&bearer.realm).map_err(|error| {
            self.error(
                Some(repository),
                ErrorKind::Malformed {
                    reason: format!("token realm '{}' is not a URL: {error}", bearer.realm),
                },
            )
        })?;
        if realm.scheme() != "https"
            && !self
                .transport
                .allows_plain_http(crate::transport::url_host(&realm).as_str())
        {
            // The token request would carry the credentials in the clear.
            return Err(self.error(
                Some(repository),
                ErrorKind::InsecureRefused {
                    url: realm.to_string(),
                },
            ));
        }
        let requested_scope = bearer.scope.clone().unwrap_or_else(|| scope.to_owned());
        let identity_token = match &self.credential {
            Some(Credential::IdentityToken(token)) => Some(token.clone()),
            _ => None,
        };
        let response = if let Some(refresh_token) = identity_token {
            // An identity token is an OAuth2 refresh token.
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh_token),
                ("client_id", "upkeep".to_owned()),
                ("scope", requested_scope.clone()),
            ];
            if let Some(service) = &bearer.service {
                form.push(("service", service.clone()));
            }
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            self.transport
                .send(Some(repository), |client| {
                    client
                        .post(realm.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body.clone())
                })
                .await?
        } else {
            {
                let mut query = realm.query_pairs_mut();
                if let Some(service) = &bearer.service {
                    query.append_pair("service", service);
                }
                query.append_pair("scope", &requested_scope);
                query.append_pair("client_id", "upkeep");
            }
            let basic = self.basic_authorization();
            self.transport
                .send(Some(repository), |client| {
                    let request = client.get(realm.clone());
                    match &basic {
                        Some(value) => request.header(AUTHORIZATION, value),
                        None => request,
                    }
                })
                .await?
        };
        if !response.status().is_success() {
            let status = response.status();
            let message = match body::read_error_text(response).await {
                Ok(text) => parse_error_body(&text).1,
                Err(kind) => return Err(self.error(Some(repository), kind)),
            };
            return Err(self.error(
                Some(repository),
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    ErrorKind::Unauthorized {
                        message: format!("the token server refused: {message}"),
                        code: None,
                    }
                } else {
                    ErrorKind::Refused {
                        status: status.as_u16(),
                        code: None,
                        message: format!("token request failed: {message}"),
                    }
                },
            ));
        }
        let answer = body::read_capped(response, SMALL_LIMIT)
            .await
            .map_err(|kind| self.error(Some(repository), kind))?;
        let answer: TokenAnswer = serde_json::from_slice(&answer).map_err(|error| {
            self.error(
                Some(repository),
                ErrorKind::Malformed {
                    reason: format!("token response is not the expected JSON: {error}"),
                },
            )
        })?;
        let token = answer.token.or(answer.access_token).ok_or_else(|| {
            self.error(
                Some(repository),
                ErrorKind::Malformed {
                    reason: "token response has neither 'token' nor 'access_token'".to_owned(),
                },
            )
        })?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let usable = lifetime.saturating_sub(TOKEN_MARGIN);
        let renew_at = self
            .transport
            .clock()
            .now()
            .checked_add_signed(TimeDelta::from_std(usable).unwrap_or(TimeDelta::MAX))
            .unwrap_or(Timestamp::MAX_UTC);
        self.state.lock().await.tokens.insert(
            scope.to_owned(),
            CachedToken {
                token: token.clone(),
                renew_at,
            },
        );
        Ok(token)
    }

    async fn url(&self, path: &str) -> Result<Url, RegistryError> {
        let base = self.base().await?;
        base.join(path).map_err(|error| {
            self.error(
                None,
                ErrorKind::Malformed {
                    reason: format!("cannot build a URL from '{path}': {error}"),
                },
            )
        })
    }

    /// Turns an unsuccessful response into a typed error: by the registry's error code first,
    /// by the status second.
    async fn status_error(
        &self,
        repository: Option<&str>,
        what: &str,
        response: Response,
    ) -> RegistryError {
        let status = response.status();
        let retry_after = crate::transport::retry_after(&response, self.transport.clock().now());
        let body = match body::read_error_text(response).await {
            Ok(text) => text,
            Err(kind) => return self.error(repository, kind),
        };
        let (code, message) = parse_error_body(&body);
        let kind = match (code.as_deref(), status) {
            (Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN"), _)
            | (_, StatusCode::NOT_FOUND) => ErrorKind::NotFound {
                what: what.to_owned(),
                code,
            },
            (Some("UNAUTHORIZED"), _) | (_, StatusCode::UNAUTHORIZED) => {
                ErrorKind::Unauthorized { message, code }
            }
            (Some("DENIED"), _) | (_, StatusCode::FORBIDDEN) => ErrorKind::Denied { message },
            (Some("TOOMANYREQUESTS"), _) | (_, StatusCode::TOO_MANY_REQUESTS) => {
                ErrorKind::RateLimited { retry_after }
            }
            (_, status) if status.is_server_error() => ErrorKind::Server {
                status: status.as_u16(),
                message,
            },
            (code, status) => ErrorKind::Refused {
                status: status.as_u16(),
                code: code.map(str::to_owned),
                message,
            },
        };
        self.error(repository, kind)
    }

    /// GETs `url` and reads the whole body, up to `limit` bytes. A body cut short (the
    /// connection closed early) is asked for once more before it becomes an error.
    async fn get_body(
        &self,
        repository: &str,
        url: &Url,
        accept: Option<&str>,
        what: &str,
        limit: u64,
    ) -> Result<(HeaderMap, Vec<u8>), RegistryError> {
        let mut attempt = 0;
        loop {
            let response = self.send(Method::GET, repository, url, accept).await?;
            if !response.status().is_success() {
                return Err(self.status_error(Some(repository), what, response).await);
            }
            let headers = response.headers().clone();
            match body::read_capped(response, limit).await {
                Ok(body) => return Ok((headers, body)),
                Err(ErrorKind::Transport(error)) if attempt == 0 => {
                    tracing::debug!(registry = %self.host, %error, "body cut short; asking again");
                    attempt += 1;
                }
                Err(kind) => return Err(self.error(Some(repository), kind)),
            }
        }
    }

    async fn manifest_response(
        &self,
        method: Method,
        repository: &str,
        reference: &str,
    ) -> Result<Response, RegistryError> {
        let url = self
            .url(&format!("v2/{repository}/manifests/{reference}"))
            .await?;
        let accept = MANIFEST_MEDIA_TYPES.join(", ");
        let response = self.send(method, repository, &url, Some(&accept)).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self
                .status_error(
                    Some(repository),
                    &format!("manifest '{reference}'"),
                    response,
                )
                .await)
        }
    }
}

#[async_trait]
impl Registry for OciRegistry {
    fn host(&self) -> &str {
        &self.host
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let mut url = self
            .url(&format!("v2/{repository}/tags/list?n={PAGE_SIZE}"))
            .await?;
        // Pages are followed only on the registry itself: the requests carry its credentials.
        let origin = url.origin();
        let mut tags = Vec::new();
        let mut seen = BTreeSet::new();
        let mut visited = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            if !visited.insert(url.to_string()) {
                return Err(self.error(
                    Some(repository),
                    ErrorKind::Malformed {
                        reason: format!("tag list pages loop back to {url}"),
                    },
                ));
            }
            let (headers, body) = self
                .get_body(repository, &url, None, "repository", TAG_PAGE_LIMIT)
                .await?;
            let next = next_link(&headers, &url);
            if let Some(next) = &next
                && next.origin() != origin
            {
                return Err(self.error(
                    Some(repository),
                    ErrorKind::CrossOriginLink {
                        link: next.to_string(),
                        origin: origin.ascii_serialization(),
                    },
                ));
            }
            let page: TagPage = serde_json::from_slice(&body).map_err(|error| {
                self.error(
                    Some(repository),
                    ErrorKind::Malformed {
                        reason: format!("tag list is not the expected JSON: {error}"),
                    },
                )
            })?;
            for tag in page.tags.unwrap_or_default() {
                if seen.insert(tag.clone()) {
                    tags.push(tag);
                }
            }
            match next {
                Some(next) => url = next,
                None => return Ok(tags),
            }
        }
        Err(self.error(
            Some(repository),
            ErrorKind::Malformed {
                reason: format!("tag list did not end after {MAX_PAGES} pages"),
            },
        ))
    }

    async fn resolve_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Digest, RegistryError> {
        let head = self
            .manifest_response(Method::HEAD, repository, reference)
            .await;
        match head {
            Ok(response) => {
                if let Some(digest) = header_digest(response.headers()) {
                    return Ok(digest);
                }
            }
            Err(error) => match error.kind() {
                // Some registries do not answer HEAD; GET answers with a body to hash.
                ErrorKind::Refused {
                    status: 405 | 501, ..
                } => {}
                _ => return Err(error),
            },
        }
        Ok(self.manifest(repository, reference).await?.digest)
    }

    async fn manifest(&self, repository: &str, reference: &str) -> Result<Manifest, RegistryError> {
        let url = self
            .url(&format!("v2/{repository}/manifests/{reference}"))
            .await?;
        let accept = MANIFEST_MEDIA_TYPES.join(", ");
        let (headers, body) = self
            .get_body(
                repository,
                &url,
                Some(&accept),
                &format!("manifest '{reference}'"),
                MANIFEST_LIMIT,
            )
            .await?;
        let announced = header_digest(&headers);
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or(value).trim().to_owned());
        // The digest asked for and the one the registry announced must both hold, each in
        // its own algorithm; the manifest's digest is the one asked for, else sha256.
        let asked = reference.parse::<Digest>().ok();
        for expected in asked.iter().chain(announced.iter()) {
            let actual = digest_of(expected.algorithm(), &body);
            if &actual != expected {
                return Err(self.error(
                    Some(repository),
                    ErrorKind::DigestMismatch {
                        expected: expected.to_string(),
                        actual: actual.to_string(),
                    },
                ));
            }
        }
        let actual = match asked {
            Some(asked) => asked,
            None => sha256_digest(&body),
        };
        let parsed: RawManifest = serde_json::from_slice(&body).map_err(|error| {
            self.error(
                Some(repository),
                ErrorKind::Malformed {
                    reason: format!("manifest is not JSON: {error}"),
                },
            )
        })?;
        let media_type = parsed
            .media_type
            .clone()
            .or(content_type)
            .unwrap_or_default();
        let content = parsed
            .into_content()
            .map_err(|reason| self.error(Some(repository), ErrorKind::Malformed { reason }))?;
        Ok(Manifest {
            digest: actual,
            media_type,
            content,
        })
    }

    async fn tag_metadata(&self, repository: &str) -> Result<Vec<TagMetadata>, RegistryError> {
        Err(self.error(
            Some(repository),
            ErrorKind::Unsupported {
                operation: "tag metadata (the OCI API has no push times)",
            },
        ))
    }
}

#[derive(Deserialize)]
struct TagPage {
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    architecture: String,
    os: String,
    variant: Option<String>,
    #[serde(rename = "os.version")]
    os_version: Option<String>,
}

impl RawManifest {
    /// Decides by shape, since OCI manifests may omit `mediaType`.
    fn into_content(self) -> Result<ManifestContent, String> {
        let digest = |raw: &str| {
            raw.parse::<Digest>()
                .map_err(|error| format!("manifest names a bad digest: {error}"))
        };
        if let Some(entries) = self.manifests {
            let manifests = entries
                .into_iter()
                .map(|entry| {
                    Ok(PlatformManifest {
                        digest: digest(&entry.digest)?,
                        media_type: entry.media_type.unwrap_or_default(),
                        platform: entry.platform.map(|platform| Platform {
                            os: platform.os,
                            architecture: platform.architecture,
                            variant: platform.variant,
                            os_version: platform.os_version,
                        }),
                    })
                })
                .collect::<Result<_, String>>()?;
            return Ok(ManifestContent::Index { manifests });
        }
        match (self.config, self.layers) {
            (Some(config), Some(layers)) => Ok(ManifestContent::Image {
                config: digest(&config.digest)?,
                layers: layers.len(),
            }),
            _ => Err(
                "manifest is neither an index (no 'manifests') nor an image (no 'config' and \
                 'layers'); schema 1 manifests are not supported"
                    .to_owned(),
            ),
        }
    }
}

fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    challenge::parse_challenges(
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    )
}

fn header_digest(headers: &HeaderMap) -> Option<Digest> {
    headers
        .get("docker-content-digest")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `sha256:` and the hex of the bytes' SHA-256.
pub(crate) fn sha256_digest(bytes: &[u8]) -> Digest {
    digest_of(DigestAlgorithm::Sha256, bytes)
}

/// The digest of `bytes` under `algorithm`, written as registries write it.
pub(crate) fn digest_of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
    let (name, hash) = match algorithm {
        DigestAlgorithm::Sha512 => ("sha512", Sha512::digest(bytes).to_vec()),
        // sha256, and any algorithm the core may add later: a digest in it then never
        // matches, which refuses the body rather than trusting it unchecked.
        _ => ("sha256", Sha256::digest(bytes).to_vec()),
    };
    let mut text = String::with_capacity(name.len() + 1 + 2 * hash.len());
    text.push_str(name);
    text.push(':');
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    // The algorithm's name and its hash's length in lower-case hex always make a valid digest.
    text.parse()
        .unwrap_or_else(|_| unreachable!("a computed {name} digest is valid"))
}

/// The `rel="next"` target of a `Link` header, resolved against the request URL.
pub(crate) fn next_link(headers: &HeaderMap, request: &Url) -> Option<Url> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let is_next = params.split(';').any(|param| {
                let param = param.trim();
                param == "rel=\"next\"" || param == "rel=next"
            });
            if is_next {
                request.join(target).ok()
            } else {
                None
            }
        })
}

/// The first error's code and message of an OCI error body, or the body itself (cut short).
fn parse_error_body(body: &str) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_str::<Body>(body) {
        Ok(parsed) => match parsed.errors.into_iter().next() {
            Some(entry) => (entry.code, entry.message.unwrap_or_default()),
            None => (None, String::new()),
        },
        Err(_) => {
            let text: String = body.trim().chars().take(200).collect();
            (None, text)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let request = Url::parse("https://r.example/v2/a/tags/list?n=2").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            "</v2/a/tags/list?n=2&last=b>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&headers, &request).map(String::from),
            Some("https://r.example/v2/a/tags/list?n=2&last=b".to_owned())
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            "<https://other.example/x?next_page=abc>; rel=\"next\", </prev>; rel=\"prev\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&headers, &request).map(String::from),
            Some("https://other.example/x?next_page=abc".to_owned())
        );
        let mut headers = HeaderMap::new();
        headers.insert(LINK, "</prev>; rel=\"prev\"".parse().unwrap());
        assert_eq!(next_link(&headers, &request), None);
    }

    #[test]
    fn error_bodies() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1.0.0"}}]}"#;
        assert_eq!(
            parse_error_body(body),
            (
                Some("MANIFEST_UNKNOWN".to_owned()),
                "manifest unknown".to_owned()
            )
        );
        assert_eq!(parse_error_body("true"), (None, "true".to_owned()));
        assert_eq!(parse_error_body(r#"{"errors":[]}"#), (None, String::new()));
    }

    #[test]
    fn digests_of_bytes() {
        assert_eq!(
            sha256_digest(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest_of(DigestAlgorithm::Sha512, b"").to_string(),
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
             47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
    }

    #[test]
    fn manifests_by_shape() {
        let image: RawManifest = serde_json::from_str(
            r#"{"schemaVersion":2,"config":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"layers":[{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}"#,
        )
        .unwrap();
        assert!(matches!(
            image.into_content(),
            Ok(ManifestContent::Image { layers: 1, .. })
        ));
        let index: RawManifest = serde_json::from_str(
            r#"{"manifests":[{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#,
        )
        .unwrap();
        match index.into_content() {
            Ok(ManifestContent::Index { manifests }) => {
                let platform = manifests[0].platform.as_ref().map(ToString::to_string);
                assert_eq!(platform.as_deref(), Some("linux/arm64/v8"));
            }
            other => panic!("{other:?}"),
        }
        let schema1: RawManifest =
            serde_json::from_str(r#"{"schemaVersion":1,"fsLayers":[]}"#).unwrap();
        assert!(schema1.into_content().is_err());
    }
}
