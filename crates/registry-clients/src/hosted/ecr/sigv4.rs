//! AWS Signature Version 4, as the AWS JSON protocols use it (no query string), with `sha2`
//! and `hmac`.
//!
//! It signs what it is given and nothing else: no clock, no credentials lookup, no IO.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use super::AwsCredentials;

/// The SigV4 algorithm name, in the string to sign and the `Authorization` header.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What SigV4 signs of a request. The AWS JSON protocols have no query string, so none is
/// taken; `path` must already be URI-encoded.
pub(super) struct SigningRequest<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included.
    pub(super) headers: &'a [(&'a str, &'a str)],
    pub(super) body: &'a [u8],
}

/// The `Authorization` header for `request` as made at `amz_date` (`20250101T000000Z`) for
/// `region` and `service`.
pub(super) fn sign_v4(
    credentials: &AwsCredentials,
    request: &SigningRequest<'_>,
    region: &str,
    service: &str,
    amz_date: &str,
) -> String {
    let (canonical_request, signed_headers) = canonical_request(request);
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = string_to_sign(&canonical_request, amz_date, &scope);
    let key = signing_key(&credentials.secret_access_key, date, region, service);
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    )
}

fn string_to_sign(canonical_request: &str, amz_date: &str, scope: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The canonical request and the signed-header list: header names lower-cased and sorted,
/// values trimmed with inner runs of spaces made one, repeated names joined by commas.
fn canonical_request(request: &SigningRequest<'_>) -> (String, String) {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.headers {
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        headers
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value);
    }
    let canonical_headers: String = headers
        .iter()
        .map(|(name, values)| format!("{name}:{}\n", values.join(",")))
        .collect();
    let signed_headers = headers.keys().cloned().collect::<Vec<_>>().join(";");
    let canonical = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        hex(&Sha256::digest(request.body))
    );
    (canonical, signed_headers)
}

/// The key chain `"AWS4" + secret` → date → region → service → `aws4_request`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let key = hmac_sha256(&key, region.as_bytes());
    let key = hmac_sha256(&key, service.as_bytes());
    hmac_sha256(&key, b"aws4_request")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|byte| {
            [
                char::from(DIGITS[usize::from(byte >> 4)]),
                char::from(DIGITS[usize::from(byte & 0x0f)]),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::api::{GET_AUTHORIZATION_TOKEN_TARGET, JSON_CONTENT_TYPE};
    use super::super::fixtures::example_credentials;
    use super::*;

    /// The credentials of AWS's SigV4 test suite.
    fn suite_credentials() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        }
    }

    #[test]
    fn signing_key_matches_the_documented_derivation() {
        // AWS's "derive a signing key" example (IAM) and the test suite's scope.
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            hex(&signing_key(secret, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_eq!(
            hex(&signing_key(secret, "20150830", "us-east-1", "service")),
            "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75"
        );
    }

    #[test]
    fn aws_sigv4_test_suite() {
        /// One case of AWS's SigV4 test suite (credentials [`suite_credentials`], region
        /// us-east-1, service `service`, 20150830T123600Z).
        struct Vector {
            name: &'static str,
            method: &'static str,
            headers: &'static [(&'static str, &'static str)],
            body: &'static [u8],
            canonical_request: String,
            canonical_request_hash: &'static str,
            signed_headers: &'static str,
            signature: &'static str,
        }
        const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        const BASE: &[(&str, &str)] = &[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
        ];
        let vectors = [
            Vector {
                name: "get-vanilla",
                method: "GET",
                headers: BASE,
                body: b"",
                canonical_request: format!(
                    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                     host;x-amz-date\n{EMPTY}"
                ),
                canonical_request_hash:
                    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
                signed_headers: "host;x-amz-date",
                signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            },
            Vector {
                name: "post-vanilla",
                method: "POST",
                headers: BASE,
                body: b"",
                canonical_request: format!(
                    "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                     host;x-amz-date\n{EMPTY}"
                ),
                canonical_request_hash:
                    "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
                signed_headers: "host;x-amz-date",
                signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            },
            Vector {
                name: "post-x-www-form-urlencoded",
                method: "POST",
                headers: &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Host", "example.amazonaws.com"),
                    ("X-Amz-Date", "20150830T123600Z"),
                ],
                body: b"Param1=value1",
                canonical_request: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n\
                                    host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                                    content-type;host;x-amz-date\n\
                                    9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
                    .to_owned(),
                canonical_request_hash:
                    "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
                signed_headers: "content-type;host;x-amz-date",
                signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            },
        ];
        let scope = "20150830/us-east-1/service/aws4_request";
        for vector in vectors {
            let name = vector.name;
            let request = SigningRequest {
                method: vector.method,
                path: "/",
                headers: vector.headers,
                body: vector.body,
            };
            let (canonical, signed_headers) = canonical_request(&request);
            assert_eq!(canonical, vector.canonical_request, "{name}");
            assert_eq!(signed_headers, vector.signed_headers, "{name}");
            assert_eq!(
                string_to_sign(&canonical, "20150830T123600Z", scope),
                format!(
                    "AWS4-HMAC-SHA256\n20150830T123600Z\n{scope}\n{}",
                    vector.canonical_request_hash
                ),
                "{name}"
            );
            assert_eq!(
                sign_v4(
                    &suite_credentials(),
                    &request,
                    "us-east-1",
                    "service",
                    "20150830T123600Z"
                ),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders={}, \
                     Signature={}",
                    vector.signed_headers, vector.signature
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn canonical_headers_are_trimmed_folded_and_joined() {
        let request = SigningRequest {
            method: "GET",
            path: "/",
            headers: &[("X-B", "  two   words "), ("x-a", "1"), ("x-b", "3")],
            body: b"",
        };
        let (canonical, signed) = canonical_request(&request);
        assert_eq!(signed, "x-a;x-b");
        assert!(
            canonical.contains("\nx-a:1\nx-b:two words,3\n\n"),
            "{canonical}"
        );
    }

    /// A GetAuthorizationToken request as AWS documents it. The expected values
    /// were computed with Python's `hmac` and `hashlib`, an independent implementation that
    /// reproduces the test-suite vectors above.
    #[test]
    fn get_authorization_token_signature_is_stable() {
        let headers = [
            ("content-type", JSON_CONTENT_TYPE),
            ("host", "api.ecr.us-east-1.amazonaws.com"),
            ("x-amz-date", "20250101T000000Z"),
            ("x-amz-target", GET_AUTHORIZATION_TOKEN_TARGET),
        ];
        let request = SigningRequest {
            method: "POST",
            path: "/",
            headers: &headers,
            body: b"{}",
        };
        let (canonical, signed_headers) = canonical_request(&request);
        assert_eq!(signed_headers, "content-type;host;x-amz-date;x-amz-target");
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/x-amz-json-1.1\n\
             host:api.ecr.us-east-1.amazonaws.com\nx-amz-date:20250101T000000Z\n\
             x-amz-target:AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken\n\n\
             content-type;host;x-amz-date;x-amz-target\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            string_to_sign(
                &canonical,
                "20250101T000000Z",
                "20250101/us-east-1/ecr/aws4_request"
            ),
            "AWS4-HMAC-SHA256\n20250101T000000Z\n20250101/us-east-1/ecr/aws4_request\n\
             c7ccf7ae63bc81cec0968802204699b39b6a8c311ce8d08d5fe75d1263c10b6e"
        );
        let authorization = sign_v4(
            &example_credentials(),
            &request,
            "us-east-1",
            "ecr",
            "20250101T000000Z",
        );
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/ecr/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=460eb27fe6587aa01c1fbfbef8814ff7f62abb5154d0d88a93d8ded62113015d"
        );
        // Signing twice gives the same answer: nothing but the inputs goes in.
        let again = sign_v4(
            &example_credentials(),
            &request,
            "us-east-1",
            "ecr",
            "20250101T000000Z",
        );
        assert_eq!(again, authorization);
    }
}
