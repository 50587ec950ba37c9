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
