//! The total order of versions and the classification of a move.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::{Family, UpdateKind, Version};

pub(super) fn compare(a: &Version, b: &Version) -> Ordering {
    a.family
        .cmp(&b.family)
        .then_with(|| compare_release(a.family, a.release(), b.release()))
        .then_with(|| compare_prerelease(a.family, a.prerelease(), b.prerelease()))
        .then_with(|| compare_variant(a.variant(), b.variant()))
}

/// Release numbers under the family's rule for parts that one side lacks.
pub(super) fn compare_release(family: Family, a: &[u64], b: &[u64]) -> Ordering {
    match family {
        // A floating tag covers the more specific ones: `10.1 > 10.1.2`.
        Family::Docker => match common_prefix(a, b) {
            Ordering::Equal => b.len().cmp(&a.len()),
            unequal => unequal,
        },
        // Missing parts read as zero; then the shorter, less specific one first.
        Family::Regex => {
            let padded = (0..a.len().max(b.len())).map(|i| {
                let x = a.get(i).copied().unwrap_or(0);
                let y = b.get(i).copied().unwrap_or(0);
                x.cmp(&y)
            });
            padded
                .into_iter()
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.len().cmp(&b.len()))
        }
        // Always three parts.
        Family::Semver | Family::Loose => a.cmp(b),
    }
}

fn common_prefix(a: &[u64], b: &[u64]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// No pre-release sorts after any pre-release.
fn compare_prerelease(family: Family, a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => match family {
            Family::Semver | Family::Loose => compare_semver_prerelease(a, b),
            Family::Docker | Family::Regex => compare_natural_prerelease(a, b),
        },
    }
}

/// The plain tag sorts after its variants; variants compare as text.
fn compare_variant(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => a.cmp(b),
    }
}

/// SemVer 2.0.0 item 11: identifiers left to right; numeric ones as numbers and before
/// alphanumeric ones; alphanumeric ones in ASCII order; more identifiers sort after.
fn compare_semver_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ordering = match (is_numeric(x), is_numeric(y)) {
                    (true, true) => compare_digits(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
        }
    }
}

fn is_numeric(identifier: &str) -> bool {
    !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two runs of digits as numbers of any size, leading zeros ignored.
fn compare_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A run of a natural pre-release: a word or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Number(&'a str),
    Word(&'a str),
}

fn tokens(text: &str) -> impl Iterator<Item = Token<'_>> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && !bytes[at].is_ascii_alphanumeric() {
            at += 1;
        }
        let start = at;
        let first = *bytes.get(at)?;
        let numeric = first.is_ascii_digit();
        while at < bytes.len()
            && bytes[at].is_ascii_alphanumeric()
            && bytes[at].is_ascii_digit() == numeric
        {
            at += 1;
        }
        let run = text.get(start..at)?;
        Some(if numeric {
            Token::Number(run)
        } else {
            Token::Word(run)
        })
    })
}

/// How far along the release path a pre-release word is: development builds first, release
/// candidates last; words it does not know come after `rc` in text order.
fn word_rank(word: &str) -> u8 {
    const RANKS: [(&str, u8); 17] = [
        ("dev", 0),
        ("snapshot", 0),
        ("nightly", 0),
        ("canary", 0),
        ("edge", 0),
        ("next", 0),
        ("a", 1),
        ("alpha", 1),
        ("b", 2),
        ("beta", 2),
        ("m", 3),
        ("ea", 3),
        ("pre", 3),
        ("preview", 3),
        ("c", 4),
        ("rc", 4),
        ("cr", 4),
    ];
    RANKS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(word))
        .map_or(5, |(_, rank)| *rank)
}

fn compare_words(a: &str, b: &str) -> Ordering {
    word_rank(a).cmp(&word_rank(b)).then_with(|| {
        let a = a.bytes().map(|c| c.to_ascii_lowercase());
        let b = b.bytes().map(|c| c.to_ascii_lowercase());
        a.cmp(b)
    })
}

/// Natural order for docker-style pre-releases: `rc.1 == rc1 == RC-1`, `rc2 < rc10`,
/// `alpha < beta < rc`. A number sorts before a word, and a shorter run of tokens first.
fn compare_natural_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = tokens(a);
    let mut right = tokens(b);
    loop {
        let ordering = match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(Token::Number(x)), Some(Token::Number(y))) => compare_digits(x, y),
            (Some(Token::Number(_)), Some(Token::Word(_))) => Ordering::Less,
            (Some(Token::Word(_)), Some(Token::Number(_))) => Ordering::Greater,
            (Some(Token::Word(x)), Some(Token::Word(y))) => compare_words(x, y),
        };
        if ordering.is_ne() {
            return ordering;
        }
    }
}

/// Hashes exactly what [`compare`] looks at, so equal versions hash alike.
pub(super) fn hash<H: Hasher>(version: &Version, state: &mut H) {
    version.family.hash(state);
    // Equal versions have equal release parts under every family's rule.
    version.release().hash(state);
    match version.prerelease() {
        None => 0u8.hash(state),
        Some(prerelease) => match version.family {
            Family::Semver | Family::Loose => {
                for identifier in prerelease.split('.') {
                    if is_numeric(identifier) {
                        identifier.trim_start_matches('0').hash(state);
                    } else {
                        identifier.hash(state);
                    }
                }
            }
            Family::Docker | Family::Regex => {
                for token in tokens(prerelease) {
                    match token {
                        Token::Number(digits) => digits.trim_start_matches('0').hash(state),
                        Token::Word(word) => {
                            for byte in word.bytes() {
                                byte.to_ascii_lowercase().hash(state);
                            }
                            0xffu8.hash(state);
                        }
                    }
                }
            }
        },
    }
    version.variant().hash(state);
}

pub(super) fn classify(from: &Version, to: &Version) -> UpdateKind {
    if from.family != to.family {
        return UpdateKind::Unknown;
    }
    let ordering = compare_release(from.family, from.release(), to.release())
        .then_with(|| compare_prerelease(from.family, from.prerelease(), to.prerelease()));
    match ordering {
        Ordering::Greater => UpdateKind::Downgrade,
        Ordering::Equal => UpdateKind::None,
        Ordering::Less => {
            let (a, b) = (from.release(), to.release());
            let longest = a.len().max(b.len());
            let first_difference = (0..longest).find(|&i| a.get(i) != b.get(i));
            match first_difference {
                None => UpdateKind::Prerelease,
                // Under regex `1.2` and `1.2.0` differ only in length; the padded numbers
                // are equal, so the move is the size of the part that was added.
                Some(0) => UpdateKind::Major,
                Some(1) => UpdateKind::Minor,
                Some(2) => UpdateKind::Patch,
                Some(_) => UpdateKind::Build,
            }
        }
    }
}
