//! Benchmarks of the versioning core on real tags.
//!
//! Run with `cargo bench -p upkeep-benches`. Targets: parsing at least as fast as the
//! `semver` crate on the strictly valid subset of the corpus, and choosing the newest among
//! 10,000 tags in under a millisecond.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use upkeep_benches::{corpus_tags, realistic_tags};
use upkeep_versioning_core::select::{Constraints, Selector, Within};
use upkeep_versioning_core::{Scheme, Version};

fn parse(c: &mut Criterion) {
    let corpus = corpus_tags();
    let strict: Vec<&str> = corpus
        .iter()
        .copied()
        .filter(|tag| semver::Version::parse(tag).is_ok())
        .collect();

    let mut group = c.benchmark_group("parse_corpus");
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("docker", |b| {
        b.iter(|| {
            for tag in &corpus {
                let _ = black_box(Version::parse(black_box(tag), &Scheme::Docker));
            }
        });
    });
    group.finish();

    // The yardstick: the same strictly valid tags through the `semver` crate and through
    // our schemes, in one run.
    let mut group = c.benchmark_group("parse_strict_subset");
    group.throughput(Throughput::Elements(strict.len() as u64));
    group.bench_function("semver_crate", |b| {
        b.iter(|| {
            for tag in &strict {
                let _ = black_box(semver::Version::parse(black_box(tag)));
            }
        });
    });
    for scheme in [Scheme::Semver, Scheme::Docker, Scheme::Loose] {
        group.bench_function(BenchmarkId::new("upkeep", scheme.name()), |b| {
            b.iter(|| {
                for tag in &strict {
                    let _ = black_box(Version::parse(black_box(tag), &scheme));
                }
            });
        });
    }
    group.finish();
}

fn select(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    for count in [1_000, 10_000] {
        let tags = realistic_tags(count);
        group.throughput(Throughput::Elements(count as u64));
        for (name, current, within) in [
            ("within_major", "3.1.0", Within::Major),
            ("any_alpine", "3.1.0-alpine", Within::Any),
            ("from_latest", "latest", Within::Major),
        ] {
            let selector = Selector::new(
                Scheme::Docker,
                current,
                Constraints {
                    within,
                    ..Constraints::default()
                },
            );
            group.bench_with_input(BenchmarkId::new(name, count), &tags, |b, tags| {
                b.iter(|| black_box(selector.select(black_box(tags).iter())));
            });
        }
    }
    let corpus = corpus_tags();
    let selector = Selector::new(Scheme::Docker, "1.25.3-alpine", Constraints::default());
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("whole_corpus", |b| {
        b.iter(|| black_box(selector.select(black_box(&corpus).iter().copied())));
    });
    group.finish();
}

fn sort(c: &mut Criterion) {
    let tags = realistic_tags(10_000);
    let versions: Vec<Version> = tags
        .iter()
        .filter_map(|tag| Version::parse(tag, &Scheme::Docker).ok())
        .collect();
    c.bench_function("sort_10000", |b| {
        b.iter(|| {
            let mut sorted = versions.clone();
            sorted.sort();
            black_box(sorted)
        });
    });
}

criterion_group!(benches, parse, select, sort);
criterion_main!(benches);
