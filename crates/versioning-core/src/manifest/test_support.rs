//! Helpers shared by the manifest's unit tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fmt;

use super::{
    DeployReason, MAX_HISTORY, Manifest, ManifestError, Reason, ServiceName, ServiceVersion,
};
use crate::Timestamp;

pub(super) const OUTPOST_IMAGE: &str = "public.ecr.aws/dagknows/outpost";

pub(super) fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

pub(super) fn time(seconds: i64) -> Timestamp {
    Timestamp::from_timestamp(1_768_220_000 + seconds, 0).unwrap()
}

pub(super) fn name(text: &str) -> ServiceName {
    ServiceName::parse(text).unwrap()
}

/// A manifest with `outpost` deployed at each tag in turn, one minute apart.
pub(super) fn deployed(tags: &[(&str, Option<char>)]) -> Manifest {
    let mut manifest = Manifest::new();
    for (minute, (tag, digest_char)) in tags.iter().enumerate() {
        let digest = digest_char.map(digest);
        manifest
            .deploy(
                &name("outpost"),
                Some(OUTPOST_IMAGE),
                tag,
                digest.as_deref(),
                DeployReason::Update,
                time(60 * minute as i64),
            )
            .unwrap();
    }
    manifest
}

pub(super) fn outpost(manifest: &Manifest) -> &ServiceVersion {
    manifest.service("outpost").unwrap()
}

pub(super) fn tags(manifest: &Manifest) -> Vec<String> {
    outpost(manifest)
        .history()
        .iter()
        .map(|entry| entry.revision().to_string())
        .collect()
}

#[track_caller]
pub(super) fn check_error<T: fmt::Debug>(result: Result<T, ManifestError>, message: &str) {
    assert_eq!(result.unwrap_err().to_string(), message);
}

/// The invariants, checked independently of the reader's checks.
#[track_caller]
pub(super) fn assert_invariants(manifest: &Manifest) {
    let mut keys = BTreeSet::new();
    for (service_name, service) in manifest.services() {
        assert!(keys.insert(service_name.env_key()), "env key clash");
        let history = service.history();
        assert!(history.len() <= MAX_HISTORY, "history too long");
        assert!(
            history
                .windows(2)
                .all(|pair| pair[0].deployed_at() >= pair[1].deployed_at()),
            "history not newest first"
        );
        if let Some(newest) = history.first() {
            assert_eq!(newest.revision(), service.current());
            assert_eq!(service.is_custom(), newest.reason() == Reason::Set);
        }
    }
}
