//! ECR's `GetAuthorizationToken` call, private and Public: the request, signed with
//! [`sigv4`](super::sigv4), and the answer's two shapes and AWS's JSON errors.
//!
//! It makes one request per call and keeps nothing: caching is [`token`](super::token)'s.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde::Deserialize;
use upkeep_versioning_core::Timestamp;
use url::Url;

use super::sigv4::{SigningRequest, sign_v4};
use super::{AwsCredentials, EcrApi, EcrClient, EcrCredentials};
use crate::body::{SMALL_LIMIT, read_capped};
use crate::error::{ErrorKind, RegistryError};
use crate::hosted::{ErrorBody, read_error_body, status_kind};

/// The SigV4 service name of private ECR's API.
pub const SERVICE: &str = "ecr";
/// `X-Amz-Target` of private ECR's `GetAuthorizationToken`.
pub const GET_AUTHORIZATION_TOKEN_TARGET: &str =
    "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
/// ECR Public's API, which exists only in us-east-1.
pub const ECR_PUBLIC_API_URL: &str = "https://api.ecr-public.us-east-1.amazonaws.com/";
/// The only region ECR Public's API is in.
pub const ECR_PUBLIC_REGION: &str = "us-east-1";
/// The SigV4 service name of ECR Public's API.
pub const ECR_PUBLIC_SERVICE: &str = "ecr-public";
/// `X-Amz-Target` of ECR Public's `GetAuthorizationToken`. The
/// caller also needs IAM's `sts:GetServiceBearerToken`.
pub const ECR_PUBLIC_TARGET: &str = "SpencerFrontendService.GetAuthorizationToken";

/// The AWS JSON 1.1 protocol's content type.
pub(super) const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

impl EcrClient {
    /// Calls `GetAuthorizationToken` with `credentials`, signing the request as made at
    /// `now`, and returns the registry user and password with their expiry.
    pub async fn authorization_token(
        &self,
        credentials: &AwsCredentials,
        now: Timestamp,
    ) -> Result<EcrCredentials, RegistryError> {
        let error = |kind| RegistryError::new(&self.registry, None, kind);
        let (target, service) = match self.api {
            EcrApi::Private => (GET_AUTHORIZATION_TOKEN_TARGET, SERVICE),
            EcrApi::Public => (ECR_PUBLIC_TARGET, ECR_PUBLIC_SERVICE),
        };
        let host = host_header(&self.api_url).ok_or_else(|| {
            error(ErrorKind::Malformed {
                reason: format!("ECR API URL '{}' has no host", self.api_url),
            })
        })?;
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        // `registryIds` is deprecated: the token is good for every registry the caller can
        // read.
        let body: &[u8] = b"{}";
        let mut signed_headers = vec![
            ("content-type", JSON_CONTENT_TYPE),
            ("host", host.as_str()),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-target", target),
        ];
        if let Some(token) = &credentials.session_token {
            signed_headers.push(("x-amz-security-token", token));
        }
        let authorization = sign_v4(
            credentials,
            &SigningRequest {
                method: "POST",
                path: self.api_url.path(),
                headers: &signed_headers,
                body,
            },
            &self.region,
            service,
            &amz_date,
        );
        let mut request = self
            .http
            .post(self.api_url.clone())
            .header(CONTENT_TYPE, JSON_CONTENT_TYPE)
            .header("x-amz-target", target)
            .header("x-amz-date", &amz_date)
            .header(AUTHORIZATION, authorization)
            .body(body);
        if let Some(token) = &credentials.session_token {
            request = request.header("x-amz-security-token", token);
        }
        let response = request
            .send()
            .await
            .map_err(|source| error(ErrorKind::Transport(source)))?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = read_error_body(response).await.map_err(error)?;
            return Err(error(aws_error_kind(status, &headers, body)));
        }
        // A token answer is a few hundred bytes.
        let body = read_capped(response, SMALL_LIMIT).await.map_err(error)?;
        let credentials = parse_token_answer(&body).map_err(error)?;
        tracing::debug!(
            registry = %self.registry,
            expires_at = %credentials.expires_at,
            "fetched an ECR registry password"
        );
        Ok(credentials)
    }
}

/// The `Host` header reqwest sends for `url`: the host, and the port when not the default.
fn host_header(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    authorization_data: AuthorizationDataShape,
}

/// Private ECR answers a list, ECR Public a single object.
#[derive(Deserialize)]
#[serde(untagged)]
enum AuthorizationDataShape {
    List(Vec<AuthorizationData>),
    One(AuthorizationData),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationData {
    authorization_token: String,
    expires_at: f64,
}

fn parse_token_answer(body: &[u8]) -> Result<EcrCredentials, ErrorKind> {
    let malformed = |reason: String| ErrorKind::Malformed { reason };
    // serde's messages may quote the values they choke on, and a value here may be the
    // password; only the position goes into the error.
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|error| {
        malformed(format!(
            "GetAuthorizationToken answer is not the documented JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let data = match answer.authorization_data {
        AuthorizationDataShape::One(data) => data,
        AuthorizationDataShape::List(list) => list.into_iter().next().ok_or_else(|| {
            malformed("GetAuthorizationToken answered with no authorizationData".to_owned())
        })?,
    };
    let decoded = BASE64
        .decode(data.authorization_token.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| malformed("authorizationToken is not base64 text".to_owned()))?;
    let (user, password) = decoded
        .split_once(':')
        .filter(|(user, password)| !user.is_empty() && !password.is_empty())
        .ok_or_else(|| malformed("authorizationToken is not 'user:password'".to_owned()))?;
    let expires_at = epoch_seconds(data.expires_at).ok_or_else(|| {
        malformed(format!(
            "expiresAt {} is not a time in Unix seconds",
            data.expires_at
        ))
    })?;
    Ok(EcrCredentials {
        user: user.to_owned(),
        password: password.to_owned(),
        expires_at,
    })
}

/// Unix seconds with a fraction, as AWS JSON protocols send times, to the millisecond (the
/// precision AWS uses; finer digits would be float noise).
fn epoch_seconds(value: f64) -> Option<Timestamp> {
    if !value.is_finite() || value < 0.0 || value >= i64::MAX as f64 {
        return None;
    }
    let millis = (value * 1000.0).round() as i64;
    Timestamp::from_timestamp_millis(millis)
}

/// Maps an AWS JSON error (`{"__type": "...Exception", "message": "..."}`, usually a 400) by
/// its type first and its status second.
fn aws_error_kind(status: StatusCode, headers: &HeaderMap, body: ErrorBody) -> ErrorKind {
    let code = body.code.clone().or_else(|| {
        headers
            .get("x-amzn-errortype")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    });
    // Types may come qualified (`com.amazonaws.ecr#AccessDeniedException`) or with a
    // suffix (`AccessDeniedException:http://...`); the bare name is what identifies them.
    let short = code.as_deref().map(|code| {
        let code = code.rsplit('#').next().unwrap_or(code);
        code.split(':').next().unwrap_or(code).to_owned()
    });
    let ErrorBody { message, .. } = body;
    match short.as_deref() {
        Some("AccessDeniedException") => ErrorKind::Denied { message },
        Some(
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "MissingAuthenticationTokenException"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch",
        ) => ErrorKind::Unauthorized {
            message,
            code: short,
        },
        Some(
            "ThrottlingException"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded",
        ) => ErrorKind::RateLimited { retry_after: None },
        Some(
            "ServerException"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "ServiceUnavailableException",
        ) => ErrorKind::Server {
            status: status.as_u16(),
            message,
        },
        _ => status_kind(
            status,
            ErrorBody {
                code: short,
                message,
            },
            "ECR API",
            None,
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::fixtures::{
        EXAMPLE_TOKEN, example_credentials, private_answer, private_client, time,
    };
    use super::*;

    /// Checks a received request's signature by signing what arrived again.
    fn assert_signed(
        request: &wiremock::Request,
        credentials: &AwsCredentials,
        region: &str,
        service: &str,
        signed_header_names: &str,
    ) {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        let names: Vec<&str> = signed_header_names.split(';').collect();
        let values: Vec<String> = names.iter().map(|name| header(name)).collect();
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .copied()
            .zip(values.iter().map(String::as_str))
            .collect();
        let amz_date = header("x-amz-date");
        let expected = sign_v4(
            credentials,
            &SigningRequest {
                method: request.method.as_str(),
                path: request.url.path(),
                headers: &pairs,
                body: &request.body,
            },
            region,
            service,
            &amz_date,
        );
        assert_eq!(header("authorization"), expected);
    }

    #[tokio::test]
    async fn get_authorization_token_end_to_end() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("x-amz-target", GET_AUTHORIZATION_TOKEN_TARGET))
            .and(header("content-type", "application/x-amz-json-1.1"))
            .and(header("x-amz-date", "20250101T000000Z"))
            .and(body_string("{}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.0)))
            .expect(1)
            .mount(&server)
            .await;
        let credentials = example_credentials();
        let token = private_client(&server)
            .authorization_token(&credentials, time("2025-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            token,
            EcrCredentials {
                user: "AWS".to_owned(),
                password: "examplepassword".to_owned(),
                expires_at: time("2025-01-01T12:00:00Z"),
            }
        );
        assert_eq!(
            token.basic_authorization(),
            format!("Basic {EXAMPLE_TOKEN}")
        );

        let requests = server.received_requests().await.unwrap();
        let authorization = requests[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/ecr/aws4_request, \
                      SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=";
        assert!(authorization.starts_with(prefix), "{authorization}");
        let signature = &authorization[prefix.len()..];
        assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(requests[0].headers.get("x-amz-security-token"), None);
        assert_signed(
            &requests[0],
            &credentials,
            "us-east-1",
            "ecr",
            "content-type;host;x-amz-date;x-amz-target",
        );
    }

    #[tokio::test]
    async fn temporary_credentials_send_and_sign_the_session_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("x-amz-security-token", "session-token-example"))
            .respond_with(ResponseTemplate::new(200).set_body_json(private_answer(1_735_732_800.5)))
            .expect(1)
            .mount(&server)
            .await;
        let credentials = AwsCredentials {
            session_token: Some("session-token-example".to_owned()),
            ..example_credentials()
        };
        let token = private_client(&server)
            .authorization_token(&credentials, time("2025-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(token.expires_at, time("2025-01-01T12:00:00.5Z"));
        let requests = server.received_requests().await.unwrap();
        assert_signed(
            &requests[0],
            &credentials,
            "us-east-1",
            "ecr",
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
        );
    }

    #[tokio::test]
    async fn ecr_public_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("x-amz-target", ECR_PUBLIC_TARGET))
            .and(body_string("{}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "authorizationData": {"authorizationToken": EXAMPLE_TOKEN, "expiresAt": 1735732800}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let client =
            EcrClient::new_public(Url::parse(&server.uri()).unwrap(), reqwest::Client::new());
        assert_eq!(client.registry(), "public.ecr.aws");
        let credentials = example_credentials();
        let token = client
            .authorization_token(&credentials, time("2025-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(token.password, "examplepassword");
        assert_eq!(token.expires_at, time("2025-01-01T12:00:00Z"));
        let requests = server.received_requests().await.unwrap();
        let authorization = requests[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/ecr-public/aws4_request, "
            ),
            "{authorization}"
        );
        assert_signed(
            &requests[0],
            &credentials,
            "us-east-1",
            "ecr-public",
            "content-type;host;x-amz-date;x-amz-target",
        );
    }

    #[tokio::test]
    async fn aws_errors() {
        let cases = [
            (
                400,
                json!({"__type": "AccessDeniedException",
                       "message": "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken on resource: *"}),
                "access denied: User: arn:aws:iam::123456789012:user/ci is not authorized to \
                 perform: ecr:GetAuthorizationToken on resource: *, from \
                 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "UnrecognizedClientException",
                       "message": "The security token included in the request is invalid."}),
                "authentication failed (UnrecognizedClientException): The security token included \
                 in the request is invalid., from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "com.amazon.coral.service#InvalidSignatureException",
                       "Message": "The request signature we calculated does not match"}),
                "authentication failed (InvalidSignatureException): The request signature we \
                 calculated does not match, from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
                "rate limited, from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                500,
                json!({"__type": "ServerException", "message": "internal"}),
                "server error 500: internal, from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                400,
                json!({"__type": "InvalidParameterException", "message": "bad registry id"}),
                "request refused with status 400 (InvalidParameterException): bad registry id, \
                 from 123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
        ];
        for (status, body, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).set_body_json(body))
                .mount(&server)
                .await;
            let error = private_client(&server)
                .authorization_token(&example_credentials(), time("2025-01-01T00:00:00Z"))
                .await
                .unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn the_error_type_header_names_the_exception_when_the_body_does_not() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/"
                .parse()
                .unwrap(),
        );
        let kind = aws_error_kind(
            StatusCode::BAD_REQUEST,
            &headers,
            ErrorBody {
                code: None,
                message: "denied".to_owned(),
            },
        );
        assert_eq!(kind.to_string(), "access denied: denied");
    }

    #[test]
    fn malformed_token_answers() {
        let cases = [
            (
                json!({"authorizationData": []}),
                "GetAuthorizationToken answered with no authorizationData",
            ),
            (
                json!({"authorizationData": [{"authorizationToken": "%%%", "expiresAt": 1.0}]}),
                "authorizationToken is not base64 text",
            ),
            (
                // base64 of "AWSexamplepassword": no colon.
                json!({"authorizationData": [{"authorizationToken": "QVdTZXhhbXBsZXBhc3N3b3Jk", "expiresAt": 1.0}]}),
                "authorizationToken is not 'user:password'",
            ),
            (
                json!({"authorizationData": [{"authorizationToken": EXAMPLE_TOKEN, "expiresAt": -5.0}]}),
                "expiresAt -5 is not a time in Unix seconds",
            ),
            (
                json!({"authorizationData": [{"authorizationToken": "c2VjcmV0", "expiresAt": "soon"}]}),
                "GetAuthorizationToken answer is not the documented JSON (line 1, column 76)",
            ),
        ];
        for (answer, expected) in cases {
            let body = serde_json::to_vec(&answer).unwrap();
            let error = parse_token_answer(&body).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("malformed response: {expected}"),
                "{answer}"
            );
            // The password must never reach an error, even when the shape is wrong.
            assert!(!error.to_string().contains("c2VjcmV0"));
        }
    }

    #[test]
    fn epoch_seconds_to_the_millisecond() {
        assert_eq!(
            epoch_seconds(1_735_732_800.0),
            Some(time("2025-01-01T12:00:00Z"))
        );
        assert_eq!(
            epoch_seconds(1_735_732_800.123),
            Some(time("2025-01-01T12:00:00.123Z"))
        );
        assert_eq!(epoch_seconds(f64::NAN), None);
        assert_eq!(epoch_seconds(f64::INFINITY), None);
        assert_eq!(epoch_seconds(-1.0), None);
    }
}
