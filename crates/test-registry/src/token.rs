//! The token issuer behind a registry in token-auth mode: an HTTP server on 127.0.0.1
//! (wiremock) answering `GET /token?service=..&scope=..` the way Docker's token servers do
//!, with ES256 JWTs that Distribution 2.8 accepts (§10.2): an `x5c`
//! header holding the issuer's self-signed certificate, which is the registry's
//! `rootcertbundle`, `aud` as a string, and `access` claims granting whatever was asked.
//!
//! Credentials: the right Basic credentials get every requested action; no `Authorization`
//! gets a token with no access (an anonymous caller, like Docker Hub's answer for a private
//! repository); wrong credentials get 401. It does not speak the OAuth2 `POST` variant: a POST
//! gets wiremock's 404, which clients must take as "use GET".
//!
//! The key and certificate come from the `openssl` CLI at start-up; signing uses `ring`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Serialize;
use upkeep_versioning_core::Timestamp;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{HarnessError, tools};

/// The JWT `iss` the issuer signs with and the registry expects.
pub const TOKEN_ISSUER: &str = "test-issuer";

/// How long tokens live, in seconds (Docker Hub's lifetime).
const TOKEN_LIFETIME_SECONDS: u64 = 300;

/// The issuer's certificate, in the registry's directory; the registry's `rootcertbundle`.
const CERTIFICATE_FILE: &str = "token-cert.pem";
const KEY_FILE: &str = "token-key.pem";

/// A running token issuer.
pub(super) struct TokenIssuer {
    server: MockServer,
    state: Arc<IssuerState>,
}

struct IssuerState {
    signer: Signer,
    service: String,
    user: &'static str,
    password: &'static str,
    /// Every request received at `/token`, answered or refused.
    requests: AtomicUsize,
    /// The `scope` parameters of those requests, in order (one entry per request, scopes
    /// joined by a space).
    scopes: Mutex<Vec<String>>,
}

/// One `access` entry of a token: `{"type":"repository","name":"test/app","actions":["pull"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Access {
    #[serde(rename = "type")]
    pub(super) resource_type: String,
    pub(super) name: String,
    pub(super) actions: Vec<String>,
}

impl Access {
    /// Pull and push on a repository.
    pub(super) fn pull_push(repository: &str) -> Self {
        Self {
            resource_type: "repository".to_owned(),
            name: repository.to_owned(),
            actions: vec!["pull".to_owned(), "push".to_owned()],
        }
    }

    /// Parses one scope, `type[(class)]:name:action[,action]`; the name may hold colons
    /// (a host with a port), so the type ends at the first colon and the actions start after
    /// the last (§2.1).
    fn parse(scope: &str) -> Option<Self> {
        let (resource_type, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        let resource_type = resource_type
            .split_once('(')
            .map_or(resource_type, |(bare, _class)| bare);
        if resource_type.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
            actions: actions
                .split(',')
                .filter(|action| !action.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

impl TokenIssuer {
    /// Makes a key and a self-signed certificate in `directory` and starts serving tokens for
    /// `service` to the holder of `user` and `password`.
    pub(super) async fn start(
        directory: &Path,
        service: &str,
        user: &'static str,
        password: &'static str,
    ) -> Result<Self, HarnessError> {
        tools::run(
            "openssl",
            [
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                KEY_FILE,
                "-out",
                CERTIFICATE_FILE,
                "-days",
                "30",
                "-subj",
                &format!("/CN={TOKEN_ISSUER}"),
            ],
            directory,
            &[],
        )
        .await?;
        let signer = Signer::load(&directory.join(KEY_FILE), &directory.join(CERTIFICATE_FILE))?;
        let state = Arc::new(IssuerState {
            signer,
            service: service.to_owned(),
            user,
            password,
            requests: AtomicUsize::new(0),
            scopes: Mutex::new(Vec::new()),
        });
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/token"))
            .respond_with(Responder(Arc::clone(&state)))
            .mount(&server)
            .await;
        Ok(Self { server, state })
    }

    /// The certificate the registry must trust, relative to the issuer's directory.
    pub(super) fn certificate_path(directory: &Path) -> PathBuf {
        directory.join(CERTIFICATE_FILE)
    }

    /// The token endpoint, `http://127.0.0.1:PORT/token`.
    pub(super) fn realm(&self) -> String {
        format!("{}/token", self.server.uri())
    }

    /// How many requests reached `/token` since start or the last [`Self::reset_counts`].
    pub(super) fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The `scope` parameters of those requests, one entry per request.
    pub(super) fn scopes(&self) -> Vec<String> {
        self.state
            .scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the requests served so far.
    pub(super) fn reset_counts(&self) {
        self.state.requests.store(0, Ordering::SeqCst);
        self.state
            .scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// A token granting `access`, made without a request (so not counted): for the harness's
    /// own pushes.
    pub(super) fn mint(&self, subject: &str, access: &[Access]) -> Result<String, HarnessError> {
        self.state
            .signer
            .token(TOKEN_ISSUER, &self.state.service, subject, access)
    }
}

struct Responder(Arc<IssuerState>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.0;
        state.requests.fetch_add(1, Ordering::SeqCst);
        let mut service = None;
        let mut scopes = Vec::new();
        for (key, value) in request.url.query_pairs() {
            match key.as_ref() {
                "service" => service = Some(value.into_owned()),
                "scope" => scopes.push(value.into_owned()),
                _ => {}
            }
        }
        state
            .scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(scopes.join(" "));

        let caller = match request.headers.get("authorization") {
            None => Caller::Anonymous,
            Some(value) if state.accepts(value.to_str().unwrap_or_default()) => Caller::User,
            Some(_) => {
                return error(401, "UNAUTHORIZED", "wrong user name or password")
                    .insert_header("WWW-Authenticate", "Basic realm=\"test-issuer\"");
            }
        };
        if service.as_deref() != Some(state.service.as_str()) {
            return error(
                400,
                "INVALID_REQUEST",
                &format!("service must be {}", state.service),
            );
        }
        let (subject, access) = match caller {
            Caller::Anonymous => ("", Vec::new()),
            Caller::User => (
                state.user,
                scopes
                    .iter()
                    .flat_map(|scope| scope.split_whitespace())
                    .filter_map(Access::parse)
                    .collect(),
            ),
        };
        match state
            .signer
            .token(TOKEN_ISSUER, &state.service, subject, &access)
        {
            Ok(token) => ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "token": token,
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "issued_at": Timestamp::from(SystemTime::now())
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
            })),
            Err(failure) => error(500, "UNKNOWN", &failure.to_string()),
        }
    }
}

enum Caller {
    Anonymous,
    User,
}

impl IssuerState {
    fn accepts(&self, authorization: &str) -> bool {
        let Some((scheme, encoded)) = authorization.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("basic")
            && STANDARD.decode(encoded.trim()).is_ok_and(|decoded| {
                decoded == format!("{}:{}", self.user, self.password).as_bytes()
            })
    }
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "errors": [{"code": code, "message": message}]
    }))
}

/// An ES256 key and the DER certificate that names it.
struct Signer {
    key: EcdsaKeyPair,
    random: SystemRandom,
    certificate_der: Vec<u8>,
}

impl Signer {
    fn load(key_path: &Path, certificate_path: &Path) -> Result<Self, HarnessError> {
        let key_der = pem_contents(key_path, "PRIVATE KEY")?;
        let certificate_der = pem_contents(certificate_path, "CERTIFICATE")?;
        let random = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_der, &random)
            .map_err(|rejected| HarnessError::Malformed {
                what: key_path.display().to_string(),
                detail: format!("not a P-256 PKCS#8 key: {rejected}"),
            })?;
        Ok(Self {
            key,
            random,
            certificate_der,
        })
    }

    /// A signed JWT: header with `x5c` (standard base64 DER), claims as Distribution 2.8
    /// checks them, signature r‖s in base64url.
    fn token(
        &self,
        issuer: &str,
        audience: &str,
        subject: &str,
        access: &[Access],
    ) -> Result<String, HarnessError> {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let header = serde_json::json!({
            "alg": "ES256",
            "typ": "JWT",
            "x5c": [STANDARD.encode(&self.certificate_der)],
        });
        let claims = serde_json::json!({
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "nbf": now,
            "iat": now,
            "jti": format!("test-token-{}", SERIAL.fetch_add(1, Ordering::SeqCst)),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.random, signing_input.as_bytes())
            .map_err(|failure| HarnessError::Malformed {
                what: "token signature".to_owned(),
                detail: failure.to_string(),
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// The DER bytes inside a PEM file's first `label` block.
fn pem_contents(path: &Path, label: &str) -> Result<Vec<u8>, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|source| HarnessError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let malformed = |detail: String| HarnessError::Malformed {
        what: path.display().to_string(),
        detail,
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .ok_or_else(|| malformed(format!("no {label} block")))?;
    let base64: String = body.split_whitespace().collect();
    STANDARD
        .decode(base64)
        .map_err(|failure| malformed(format!("bad base64 in the {label} block: {failure}")))
}
