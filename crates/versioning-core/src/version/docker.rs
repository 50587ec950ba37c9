//! The `docker` scheme: Renovate's docker versioning plus named pre-releases.

use super::error::{ErrorKind, Position};
use super::{Parts, Release, Span, VersionError, looks_like_commit_hash};

/// Pre-release words recognised at the start of the text after the first `-`. `m` (a
/// milestone) counts only with a number (`m1`), so that a variant such as `-musl` is not
/// mistaken for one.
const PRERELEASE_WORDS: [&str; 13] = [
    "alpha", "beta", "rc", "preview", "pre", "dev", "snapshot", "nightly", "canary", "next",
    "edge", "ea", "m",
];

pub(super) fn parse(text: &str, parts: &mut Parts) -> Result<(), VersionError> {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(VersionError::new(text, ErrorKind::Empty));
    };
    if looks_like_commit_hash(text) {
        return Err(VersionError::new(text, ErrorKind::CommitHash));
    }
    let mut at = 0;
    if matches!(first, b'v' | b'V') {
        at = 1;
    }
    if !bytes.get(at).is_some_and(u8::is_ascii_digit) {
        return Err(VersionError::new(text, ErrorKind::Name));
    }

    at = read_release(text, at, &mut parts.release)?;
    parts.written_parts = u8::try_from(parts.release.len()).unwrap_or(u8::MAX);

    // A suffix glued to the last number is a pre-release when it starts with a pre-release
    // word (`3.15.0rc1`, `19beta3`, `3.7.0b1`). Other glued letters, such as Java's update
    // number in `8u502`, start a variant: reading them as pre-releases would sort `8u502`
    // before `8`.
    if bytes.get(at).is_some_and(u8::is_ascii_alphabetic) {
        let start = at;
        let word_end = (at..bytes.len())
            .find(|&i| !bytes[i].is_ascii_alphabetic())
            .unwrap_or(bytes.len());
        if is_glued_prerelease_word(&bytes[start..word_end]) {
            while bytes
                .get(at)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')
            {
                at += 1;
            }
            if bytes[at - 1] == b'.' {
                return Err(unexpected(text, at - 1, Position::Prerelease));
            }
            parts.prerelease = Span::new(start, at);
        } else {
            at = variant_end(text, start)?;
            parts.variant = Span::new(start, at);
        }
    }

    match bytes.get(at) {
        None => return Ok(()),
        Some(_) if !parts.variant.is_empty() => {}
        Some(b'_') => {
            // `8.1.2.4_1`: a rebuild marker; kept as a variant, underscore included.
            let end = variant_end(text, at + 1)?;
            parts.variant = Span::new(at, end);
            at = end;
        }
        Some(b'-') => {
            let start = at + 1;
            let end = variant_end(text, start)?;
            if start == end {
                return Err(VersionError::new(
                    text,
                    if end == bytes.len() {
                        ErrorKind::UnexpectedEnd(Position::Variant)
                    } else {
                        ErrorKind::EmptySegment(Position::Variant)
                    },
                ));
            }
            let mut variant_start = start;
            if parts.prerelease.is_empty()
                && let Some(prerelease_end) = named_prerelease(bytes, start, end)
            {
                parts.prerelease = Span::new(start, prerelease_end);
                variant_start = prerelease_end;
                if bytes.get(prerelease_end) == Some(&b'-') {
                    variant_start += 1;
                    if variant_start == end {
                        return Err(VersionError::new(
                            text,
                            ErrorKind::UnexpectedEnd(Position::Variant),
                        ));
                    }
                }
            }
            if variant_start < end {
                parts.variant = Span::new(variant_start, end);
            }
            at = end;
        }
        Some(b'+') => {}
        Some(_) => return Err(unexpected(text, at, Position::Release)),
    }

    if at < bytes.len() {
        // Only `+` can stop the variant before the end.
        let start = at + 1;
        if start == bytes.len() {
            return Err(VersionError::new(
                text,
                ErrorKind::UnexpectedEnd(Position::Build),
            ));
        }
        if let Some(offset) = bytes[start..].iter().position(|b| !is_tag_byte(*b)) {
            return Err(unexpected(text, start + offset, Position::Build));
        }
        parts.build = Span::new(start, bytes.len());
    }
    Ok(())
}

/// Reads `digits ('.' digits)*` from `at`; returns where it stopped.
pub(super) fn read_release(
    text: &str,
    mut at: usize,
    release: &mut Release,
) -> Result<usize, VersionError> {
    let bytes = text.as_bytes();
    loop {
        let (value, end) = read_number(text, at, Position::Release)?;
        release.push(value);
        at = end;
        if bytes.get(at) == Some(&b'.') && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
            at += 1;
        } else if bytes.get(at) == Some(&b'.') {
            return Err(match bytes.get(at + 1) {
                None => VersionError::new(text, ErrorKind::UnexpectedEnd(Position::Release)),
                Some(_) => unexpected(text, at + 1, Position::Release),
            });
        } else {
            return Ok(at);
        }
    }
}

/// Reads a run of digits at `at` as a number; leading zeros are allowed.
#[inline]
pub(super) fn read_number(
    text: &str,
    at: usize,
    position: Position,
) -> Result<(u64, usize), VersionError> {
    let bytes = text.as_bytes();
    let mut value: u64 = 0;
    let mut end = at;
    while let Some(&byte) = bytes.get(end) {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // Nineteen digits always fit in a u64; only longer runs need the checked path.
        value = if end - at < 19 {
            value * 10 + u64::from(digit)
        } else {
            value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit)))
                .ok_or_else(|| VersionError::new(text, ErrorKind::TooLarge(position)))?
        };
        end += 1;
    }
    if end == at {
        return Err(match bytes.get(at) {
            None => VersionError::new(text, ErrorKind::UnexpectedEnd(position)),
            Some(_) => unexpected(text, at, position),
        });
    }
    Ok((value, end))
}

#[cold]
pub(super) fn unexpected(text: &str, offset: usize, position: Position) -> VersionError {
    let found = text
        .get(offset..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or('?');
    VersionError::new(
        text,
        ErrorKind::UnexpectedChar {
            found,
            offset,
            position,
        },
    )
}

/// Reads tag characters from `from` to the end or to a `+` (build metadata follows);
/// returns where it stopped.
fn variant_end(text: &str, from: usize) -> Result<usize, VersionError> {
    let bytes = text.as_bytes();
    match bytes[from..].iter().position(|b| !is_tag_byte(*b)) {
        None => Ok(bytes.len()),
        Some(offset) if bytes[from + offset] == b'+' => Ok(from + offset),
        Some(offset) => Err(unexpected(text, from + offset, Position::Variant)),
    }
}

/// `[A-Za-z0-9_.-]`, by table: the variant scan is the hot path of reading a tag.
#[inline]
fn is_tag_byte(byte: u8) -> bool {
    const TABLE: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            table[i] = b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
            i += 1;
        }
        table
    };
    TABLE[usize::from(byte)]
}

/// The words that make a glued suffix a pre-release: the named ones, and Python's `a`, `b`
/// and `c` (`3.7.0a1`, `3.7.0b1`).
fn is_glued_prerelease_word(word: &[u8]) -> bool {
    PRERELEASE_WORDS
        .iter()
        .chain(&["a", "b", "c"])
        .any(|candidate| word.eq_ignore_ascii_case(candidate.as_bytes()))
}

/// When the text in `start..end` begins with a pre-release word (in forms such as `rc`,
/// `rc1`, `rc.1`, `RC-1`, `beta.2.1`), returns where that pre-release ends.
fn named_prerelease(bytes: &[u8], start: usize, end: usize) -> Option<usize> {
    // Most variants (`alpine`, `bookworm`, `slim`) fail on the first letter.
    if !matches!(
        bytes[start].to_ascii_lowercase(),
        b'a' | b'b' | b'r' | b'p' | b'd' | b's' | b'n' | b'c' | b'e' | b'm'
    ) {
        return None;
    }
    let word_end = (start..end)
        .find(|&i| !bytes[i].is_ascii_alphabetic())
        .unwrap_or(end);
    let word = &bytes[start..word_end];
    let known = PRERELEASE_WORDS
        .iter()
        .any(|candidate| word.eq_ignore_ascii_case(candidate.as_bytes()));
    if !known {
        return None;
    }
    let mut at = word_end;
    let digits = |from: usize| {
        (from..end)
            .find(|&i| !bytes[i].is_ascii_digit())
            .unwrap_or(end)
    };
    match bytes.get(at) {
        Some(b) if at < end && b.is_ascii_digit() => at = digits(at),
        Some(b'.' | b'-') if bytes.get(at + 1).is_some_and(u8::is_ascii_digit) && at + 1 < end => {
            at = digits(at + 1);
        }
        _ => {
            if word.eq_ignore_ascii_case(b"m") {
                // A lone `m` is no milestone.
                return None;
            }
        }
    }
    // Dotted identifiers may follow: `beta.2.1`, `rc.1.hotfix`.
    while at < end
        && bytes[at] == b'.'
        && bytes.get(at + 1).is_some_and(u8::is_ascii_alphanumeric)
        && at + 1 < end
    {
        at += 1;
        while at < end && bytes[at].is_ascii_alphanumeric() {
            at += 1;
        }
    }
    // The pre-release must end the text or hand over to a variant or build metadata.
    match bytes.get(at) {
        None | Some(b'-' | b'+') => Some(at),
        Some(_) if at == end => Some(at),
        Some(_) => None,
    }
}
