//! Inputs for upkeep's criterion benchmarks: the real tag corpus and tag lists of a chosen
//! size shaped like real ones.

#![warn(missing_docs)]

/// Every Docker Official Image tag, as `image:tag` lines (see `testdata/README.md`).
pub const CORPUS: &str = include_str!("../../testdata/official-image-tags.txt");

/// The tags of the corpus, without their image names.
pub fn corpus_tags() -> Vec<&'static str> {
    CORPUS
        .lines()
        .filter_map(|line| line.split_once(':').map(|(_, tag)| tag))
        .collect()
}

/// `count` distinct tags shaped like a busy image's list: `x.y.z` releases, each also with
/// two variants, and a few pre-releases and names mixed in, in no particular order.
pub fn realistic_tags(count: usize) -> Vec<String> {
    let mut tags = Vec::with_capacity(count);
    let mut n: u64 = 0;
    while tags.len() < count {
        // Spread the numbers so that the list is not sorted.
        let (major, minor, patch) = (n % 13, (n / 13) % 40, n / 520);
        let release = format!("{major}.{minor}.{patch}");
        let shapes = [
            release.clone(),
            format!("{release}-alpine"),
            format!("{release}-bookworm-slim"),
            format!("{release}-rc1"),
        ];
        for tag in shapes {
            if tags.len() < count {
                tags.push(tag);
            }
        }
        if n.is_multiple_of(97) && tags.len() < count {
            tags.push(format!("sha-{n:07x}"));
        }
        n += 1;
    }
    tags
}

/// `count` `notify_only` deployments `svc0`, `svc1`, … running `1.0.0` of the image
/// `image(n)`: the `deployments:` lines of an agent configuration (appended to `config`) and
/// the manifest that records them, for the agent's load benchmarks.
#[allow(clippy::unwrap_used)] // Fixed, valid names and tags.
pub fn notify_only_deployments(
    count: usize,
    image: impl Fn(usize) -> String,
    config: &mut String,
    now: upkeep_versioning_core::Timestamp,
) -> upkeep_versioning_core::manifest::Manifest {
    use upkeep_versioning_core::manifest::{DeployReason, Manifest, ServiceName};
    config.push_str("deployments:\n");
    let mut manifest = Manifest::new();
    for n in 0..count {
        let image = image(n);
        config.push_str(&format!(
            "  svc{n}:\n    image: {image}\n    policy: notify_only\n"
        ));
        let service = ServiceName::parse(&format!("svc{n}")).unwrap();
        manifest
            .deploy(
                &service,
                Some(&image),
                "1.0.0",
                None,
                DeployReason::Update,
                now,
            )
            .unwrap();
    }
    manifest
}
