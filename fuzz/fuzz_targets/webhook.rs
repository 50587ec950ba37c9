//! Registry webhook deliveries through the agent's `webhooks::parse`, with valid credentials
//! so that the payload parsers are reached: the first byte picks the source (Docker Hub,
//! GitHub, Quay, Distribution) and, for GitHub, the event and the encoding; the rest is the
//! body. No panic; every push is from an allowed registry, named as an image reference names
//! it, with a valid tag and digest, and none twice; every error has a status and a bounded
//! message.
#![no_main]

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use upkeep_agent::webhooks::{self, RegistryAllowlist, Source, WebhookConfig, WebhookSecret};
use upkeep_versioning_core::reference::{Digest, ImageRef, Tag};

const SECRET: &str = "fuzz-secret";
const EVENTS: [&str; 4] = ["package", "registry_package", "ping", "push"];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let source = Source::ALL[usize::from(selector) % Source::ALL.len()];
    let mut config = WebhookConfig::default();
    config.secrets.github = WebhookSecret::new(SECRET);
    config.secrets.docker_hub = WebhookSecret::new(SECRET);
    config.secrets.quay = WebhookSecret::new(SECRET);
    config.secrets.distribution = WebhookSecret::new(SECRET);
    config.allowed_registries = RegistryAllowlist::new([
        "docker.io",
        "ghcr.io",
        "quay.io",
        "127.0.0.1:5000",
        "localhost",
    ]);

    let mut headers = HeaderMap::new();
    if source == Source::GitHub {
        let event = EVENTS[usize::from(selector >> 2) % EVENTS.len()];
        headers.insert("x-github-event", HeaderValue::from_static(event));
        if selector & 0x40 != 0 {
            headers.insert(
                "content-type",
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()) else {
            return;
        };
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        if let Ok(value) = HeaderValue::from_str(&format!("sha256={hex}")) {
            headers.insert("x-hub-signature-256", value);
        }
    }
    let query = format!("token={SECRET}");

    match webhooks::parse(source, Some(&query), &headers, body, &config) {
        Ok(pushes) => {
            for (index, push) in pushes.iter().enumerate() {
                assert!(config.allowed_registries.contains(&push.registry), "{push}");
                let name: ImageRef = push.name().parse().expect("a push names an image");
                assert_eq!(name.registry(), push.registry);
                assert_eq!(name.repository(), push.repository);
                if let Some(tag) = &push.tag {
                    assert_eq!(
                        tag.parse::<Tag>().expect("a push's tag is valid").as_str(),
                        tag
                    );
                }
                if let Some(digest) = &push.digest {
                    assert!(digest.parse::<Digest>().is_ok(), "{digest}");
                }
                assert!(!pushes[..index].contains(push), "{push} twice");
            }
        }
        Err(error) => {
            let status = error.status();
            // The credentials are right, so only the payload or its registry can be refused.
            assert!(status == 400 || status == 403, "{status}: {error}");
            // The message quotes the sender's fields only cut short.
            let message = error.to_string();
            assert!(message.len() <= 4096, "{} bytes: {message}", message.len());
        }
    }
});
