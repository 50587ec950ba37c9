//! The `semver` (strict SemVer 2.0.0) and `loose` (node-semver's loose mode) schemes.

use super::docker::{read_number, unexpected};
use super::error::{ErrorKind, Position};
use super::{Parts, Span, VersionError, looks_like_commit_hash};

const RELEASE_POSITIONS: [Position; 3] = [Position::Major, Position::Minor, Position::Patch];

/// `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, with no leading zeros and no `v`.
pub(super) fn parse_strict(text: &str, parts: &mut Parts) -> Result<(), VersionError> {
    let bytes = text.as_bytes();
    match bytes.first() {
        None => return Err(VersionError::new(text, ErrorKind::Empty)),
        Some(b'v' | b'V') if bytes.get(1).is_some_and(u8::is_ascii_digit) => {
            return Err(VersionError::new(text, ErrorKind::VPrefix));
        }
        Some(b) if !b.is_ascii_digit() => return Err(VersionError::new(text, ErrorKind::Name)),
        Some(_) => {}
    }
    let mut at = 0;
    for (index, position) in RELEASE_POSITIONS.into_iter().enumerate() {
        if index > 0 {
            match bytes.get(at) {
                Some(b'.') => at += 1,
                None => return Err(VersionError::new(text, ErrorKind::UnexpectedEnd(position))),
                Some(_) => return Err(unexpected(text, at, position)),
            }
        }
        let (value, end) = read_number(text, at, position)?;
        if end - at > 1 && bytes[at] == b'0' {
            return Err(VersionError::new(text, ErrorKind::LeadingZero(position)));
        }
        parts.release.push(value);
        at = end;
    }
    parts.written_parts = 3;
    at = read_tail(text, at, parts, true)?;
    if at != bytes.len() {
        return Err(unexpected(text, at, Position::Patch));
    }
    Ok(())
}

/// node-semver's loose mode: `[v=\s]*` before, spaces after, leading zeros allowed, the `-`
/// before a pre-release optional, and partial versions padded to three parts.
pub(super) fn parse_loose(text: &str, parts: &mut Parts) -> Result<(), VersionError> {
    let bytes = text.as_bytes();
    let end = text.trim_end().len();
    let mut at = bytes
        .iter()
        .position(|b| !(matches!(b, b'v' | b'V' | b'=') || b.is_ascii_whitespace()))
        .unwrap_or(bytes.len());
    if at >= end {
        return Err(VersionError::new(
            text,
            if text.trim().is_empty() {
                ErrorKind::Empty
            } else {
                ErrorKind::UnexpectedEnd(Position::Major)
            },
        ));
    }
    if !bytes[at].is_ascii_digit() {
        return Err(VersionError::new(text, ErrorKind::Name));
    }
    if looks_like_commit_hash(&text[at..end]) {
        return Err(VersionError::new(text, ErrorKind::CommitHash));
    }
    for (index, position) in RELEASE_POSITIONS.into_iter().enumerate() {
        if index > 0 {
            if bytes.get(at) == Some(&b'.') && bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
                at += 1;
            } else {
                break;
            }
        }
        let (value, next) = read_number(text, at, position)?;
        parts.release.push(value);
        at = next;
    }
    parts.written_parts = u8::try_from(parts.release.len()).unwrap_or(3);
    while parts.release.len() < 3 {
        parts.release.push(0);
    }
    // A pre-release may be glued on: `1.2.3beta`.
    if bytes
        .get(at)
        .is_some_and(|b| b.is_ascii_alphabetic() && at < end)
    {
        let start = at;
        at = read_identifiers(text, at, end, Position::Prerelease, false)?;
        parts.prerelease = Span::new(start, at);
    }
    at = read_tail(&text[..end], at, parts, false)?;
    if at != end {
        return Err(unexpected(text, at, Position::Patch));
    }
    Ok(())
}

/// Reads `[-PRERELEASE][+BUILD]` at `at` within `text`.
fn read_tail(
    text: &str,
    mut at: usize,
    parts: &mut Parts,
    strict: bool,
) -> Result<usize, VersionError> {
    let bytes = text.as_bytes();
    let end = bytes.len();
    if bytes.get(at) == Some(&b'-') && parts.prerelease.is_empty() {
        let start = at + 1;
        at = read_identifiers(text, start, end, Position::Prerelease, strict)?;
        parts.prerelease = Span::new(start, at);
    }
    if bytes.get(at) == Some(&b'+') {
        let start = at + 1;
        at = read_identifiers(text, start, end, Position::Build, false)?;
        parts.build = Span::new(start, at);
    }
    Ok(at)
}

/// Reads dot-separated identifiers of `[0-9A-Za-z-]`. Under `strict_numbers`, a numeric
/// identifier may not have a leading zero (SemVer 2.0.0 item 9).
fn read_identifiers(
    text: &str,
    start: usize,
    end: usize,
    position: Position,
    strict_numbers: bool,
) -> Result<usize, VersionError> {
    let bytes = text.as_bytes();
    let mut at = start;
    loop {
        let identifier_start = at;
        while at < end && is_identifier_byte(bytes[at]) {
            at += 1;
        }
        if at == identifier_start {
            return Err(match bytes.get(at) {
                None => VersionError::new(text, ErrorKind::UnexpectedEnd(position)),
                Some(b'.') => VersionError::new(text, ErrorKind::EmptySegment(position)),
                Some(_) if at >= end => VersionError::new(text, ErrorKind::UnexpectedEnd(position)),
                Some(_) => unexpected(text, at, position),
            });
        }
        let identifier = &bytes[identifier_start..at];
        if strict_numbers
            && identifier[0] == b'0'
            && identifier.len() > 1
            && identifier.iter().all(u8::is_ascii_digit)
        {
            return Err(VersionError::new(text, ErrorKind::LeadingZero(position)));
        }
        if at < end && bytes[at] == b'.' {
            at += 1;
        } else {
            return Ok(at);
        }
    }
}

/// `[0-9A-Za-z-]`, by table: this loop is the hot path of reading a tag with a pre-release.
#[inline]
fn is_identifier_byte(byte: u8) -> bool {
    const TABLE: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            table[i] = b.is_ascii_alphanumeric() || b == b'-';
            i += 1;
        }
        table
    };
    TABLE[usize::from(byte)]
}
