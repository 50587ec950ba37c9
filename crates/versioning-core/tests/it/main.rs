//! versioning-core's one integration-test binary: the real tag corpus, the laws of the order
//! and of selection (proptest), and a differential test against the `semver` crate.
#![allow(clippy::unwrap_used)]

mod corpus;
mod differential;
mod properties;

/// Every Docker Official Image tag, as `image:tag` lines (see `testdata/README.md`).
pub(crate) const CORPUS: &str = include_str!("../../../../testdata/official-image-tags.txt");

/// The corpus as `(image, tag)` pairs.
pub(crate) fn corpus() -> impl Iterator<Item = (&'static str, &'static str)> {
    CORPUS.lines().filter_map(|line| line.split_once(':'))
}

/// The tags of one image.
pub(crate) fn tags_of(image: &str) -> Vec<&'static str> {
    corpus()
        .filter(|(name, _)| *name == image)
        .map(|(_, tag)| tag)
        .collect()
}

/// The core's public types can cross threads, so the engine and agent can share them.
#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    use upkeep_versioning_core::{manifest, planner, policy, range, reference, select, version};
    assert_send_sync::<version::Version>();
    assert_send_sync::<version::Scheme>();
    assert_send_sync::<version::VersionError>();
    assert_send_sync::<reference::ImageRef>();
    assert_send_sync::<reference::ReferenceError>();
    assert_send_sync::<range::Range>();
    assert_send_sync::<select::Selector>();
    assert_send_sync::<select::Selected>();
    assert_send_sync::<select::Rejection>();
    assert_send_sync::<planner::Cycle>();
    assert_send_sync::<policy::PolicyConfig>();
    assert_send_sync::<planner::CycleState>();
    assert_send_sync::<manifest::Manifest>();
    assert_send_sync::<manifest::ManifestError>();
}
