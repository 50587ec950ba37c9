//! Amazon ECR's authorization tokens: ECR has no token server, so a
//! client asks the ECR API's `GetAuthorizationToken` for a 12-hour password and sends it as
//! Basic credentials on every registry request. This module makes that call, signed with
//! AWS Signature Version 4 (implemented here with `sha2` and `hmac`), for private ECR and
//! for ECR Public; reads AWS credentials from the environment and the shared files; parses
//! ECR registry hosts; and caches the password until shortly before it expires.
//!
//! Its parts: this file holds the client ([`EcrClient`]) and registry hosts ([`EcrHost`]);
//! `credentials` finds AWS credentials, `api` calls `GetAuthorizationToken` and reads its
//! answers and errors, `token` keeps the password it returns, and `sigv4` signs requests.
//!
//! # What this module does not do
//! It does not talk to the registry (`*.dkr.ecr.*`); the OCI client does, with the
//! credentials this module returns. Of the AWS credential chain it covers the parts that
//! work offline (environment variables and static keys in the shared files); SSO, assumed
//! roles, credential processes, web identity and instance metadata are not supported. It
//! does not read the clock: callers pass `now`.

mod api;
mod credentials;
mod sigv4;
mod token;

use url::Url;

pub use self::api::{
    ECR_PUBLIC_API_URL, ECR_PUBLIC_REGION, ECR_PUBLIC_SERVICE, ECR_PUBLIC_TARGET,
    GET_AUTHORIZATION_TOKEN_TARGET, SERVICE,
};
pub use self::credentials::{AwsConfigError, AwsCredentials, AwsSources};
pub use self::token::{EcrCredentials, EcrTokenCache, REFRESH_MARGIN, TOKEN_LIFETIME};
use super::constant_url;

/// ECR Public's registry host, as written in image references.
pub const PUBLIC_REGISTRY: &str = "public.ecr.aws";
/// ECR Public's anonymous token endpoint, the realm of its Bearer challenge; it answers
/// `{"token":"..."}` like any Docker token server.
pub const ECR_PUBLIC_TOKEN_URL: &str = "https://public.ecr.aws/token/";
/// The `service` of ECR Public's Bearer challenge.
pub const ECR_PUBLIC_TOKEN_SERVICE: &str = "public.ecr.aws";
/// The `scope` of ECR Public's Bearer challenge: `aws`, not a repository scope.
pub const ECR_PUBLIC_TOKEN_SCOPE: &str = "aws";

// ---------------------------------------------------------------------------------------------
// Hosts

/// A private ECR registry host, `{account}.dkr.ecr.{region}.amazonaws.com`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// The host, lower case, as it names the registry in errors.
    pub host: String,
    /// The 12-digit AWS account id.
    pub account: String,
    /// The AWS region (`eu-central-1`).
    pub region: String,
    /// True for the FIPS endpoints (`dkr.ecr-fips.`).
    pub fips: bool,
    /// True for China regions (`.amazonaws.com.cn`).
    pub china: bool,
}

impl EcrHost {
    /// Parses a registry host matching
    /// `^\d{12}\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`, as AWS names
    /// private registries, case-insensitively; `None` for any other host.
    pub fn parse(host: &str) -> Option<Self> {
        let host = host.to_ascii_lowercase();
        let (rest, china) = match host.strip_suffix(".amazonaws.com.cn") {
            Some(rest) => (rest, true),
            None => (host.strip_suffix(".amazonaws.com")?, false),
        };
        let (account, rest) = rest.split_once(".dkr.")?;
        let (fips, region) = match rest.strip_prefix("ecr-fips.") {
            Some(region) => (true, region),
            None => (false, rest.strip_prefix("ecr.")?),
        };
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !account_ok || !region_ok {
            return None;
        }
        Some(Self {
            account: account.to_owned(),
            region: region.to_owned(),
            fips,
            china,
            host,
        })
    }

    /// The ECR API endpoint for this registry's region: `https://api.ecr.{region}.amazonaws.com/`
    /// (`.com.cn` in China), or the FIPS endpoint `https://ecr-fips.{region}.amazonaws.com/`
    /// (AWS's ECR endpoint list).
    pub fn api_url(&self) -> Url {
        let domain = if self.china {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let text = if self.fips {
            format!("https://ecr-fips.{}.{domain}/", self.region)
        } else {
            format!("https://api.ecr.{}.{domain}/", self.region)
        };
        // The region was checked to be `[a-z0-9-]+`, which always makes a valid host.
        Url::parse(&text).unwrap_or_else(|error| unreachable!("ECR API URL '{text}': {error}"))
    }
}

// ---------------------------------------------------------------------------------------------
// The client

/// Which ECR API answers: they differ in target, SigV4 service and answer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EcrApi {
    Private,
    Public,
}

/// A client for ECR's `GetAuthorizationToken`, private or Public.
#[derive(Debug, Clone)]
pub struct EcrClient {
    api_url: Url,
    registry: String,
    region: String,
    api: EcrApi,
    http: reqwest::Client,
}

impl EcrClient {
    /// A client for private ECR's API at `api_url` in `region`, naming `registry` (the
    /// registry host) in its errors. `api_url`'s path is signed as given; the real endpoints
    /// are at `/`.
    pub fn new(api_url: Url, registry: &str, region: &str, http: reqwest::Client) -> Self {
        Self {
            api_url,
            registry: registry.to_owned(),
            region: region.to_owned(),
            api: EcrApi::Private,
            http,
        }
    }

    /// A client for the registry at `host`, using its region's API endpoint.
    pub fn for_host(host: &EcrHost, http: reqwest::Client) -> Self {
        Self::new(host.api_url(), &host.host, &host.region, http)
    }

    /// A client for ECR Public's API at `api_url` (normally [`ECR_PUBLIC_API_URL`]), signed
    /// for us-east-1, the only region it is in.
    pub fn new_public(api_url: Url, http: reqwest::Client) -> Self {
        Self {
            api_url,
            registry: PUBLIC_REGISTRY.to_owned(),
            region: ECR_PUBLIC_REGION.to_owned(),
            api: EcrApi::Public,
            http,
        }
    }

    /// A client for the real ECR Public API, at [`ECR_PUBLIC_API_URL`].
    pub fn ecr_public(http: reqwest::Client) -> Self {
        Self::new_public(constant_url(ECR_PUBLIC_API_URL), http)
    }

    /// The registry this client fetches passwords for.
    pub fn registry(&self) -> &str {
        &self.registry
    }
}

/// What the tests of several parts share: AWS's example keys, times, and a private ECR
/// client on a mock server with its answer.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod fixtures {
    use serde_json::json;
    use upkeep_versioning_core::Timestamp;
    use url::Url;
    use wiremock::MockServer;

    use super::{AwsCredentials, EcrClient};

    /// The example key pair of AWS's documentation.
    pub(super) fn example_credentials() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        }
    }

    pub(super) fn time(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// `AWS:examplepassword`, the reference's example token.
    pub(super) const EXAMPLE_TOKEN: &str = "QVdTOmV4YW1wbGVwYXNzd29yZA==";

    pub(super) fn private_answer(expires_at: f64) -> serde_json::Value {
        json!({"authorizationData": [{
            "authorizationToken": EXAMPLE_TOKEN,
            "expiresAt": expires_at,
            "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
        }]})
    }

    pub(super) fn private_client(server: &MockServer) -> EcrClient {
        EcrClient::new(
            Url::parse(&server.uri()).unwrap(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "us-east-1",
            reqwest::Client::new(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts() {
        let host = |host: &str, account: &str, region: &str, fips, china, api: &str| {
            let parsed = EcrHost::parse(host).unwrap();
            assert_eq!(
                parsed,
                EcrHost {
                    host: host.to_ascii_lowercase(),
                    account: account.to_owned(),
                    region: region.to_owned(),
                    fips,
                    china,
                },
                "{host}"
            );
            assert_eq!(parsed.api_url().as_str(), api, "{host}");
        };
        host(
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
            "123456789012",
            "eu-central-1",
            false,
            false,
            "https://api.ecr.eu-central-1.amazonaws.com/",
        );
        host(
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "123456789012",
            "us-east-1",
            true,
            false,
            "https://ecr-fips.us-east-1.amazonaws.com/",
        );
        host(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "123456789012",
            "cn-north-1",
            false,
            true,
            "https://api.ecr.cn-north-1.amazonaws.com.cn/",
        );
        host(
            "123456789012.DKR.ECR.US-WEST-2.AMAZONAWS.COM",
            "123456789012",
            "us-west-2",
            false,
            false,
            "https://api.ecr.us-west-2.amazonaws.com/",
        );
        for other in [
            "public.ecr.aws",
            "12345678901.dkr.ecr.us-east-1.amazonaws.com",
            "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
            "12345678901a.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr..amazonaws.com",
            "123456789012.dkr.ecr.us_east_1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
            "123456789012.dkr.ecr.a.b.amazonaws.com",
            "ghcr.io",
        ] {
            assert_eq!(EcrHost::parse(other), None, "{other}");
        }
    }
}
