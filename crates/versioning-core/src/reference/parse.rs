//! Reading `[host[:port]/]path[:tag][@digest]` by the grammar in the
//! [module documentation](super#grammar): splitting the parts, checking each, and reporting
//! the first fault with its position and, where the fix is obvious, the corrected input.
//!
//! What the parts mean once checked (Docker Hub, `library/`, the host's one spelling) is
//! `normalise`'s business; how a fault reads is `error`'s.

use std::net::Ipv6Addr;

use compact_str::CompactString;

use super::error::{ErrorKind, Fault, Slash};
use super::normalise::{full_name, is_host_like, is_image_id, registry_name};
use super::types::{Digest, DigestAlgorithm, ImageRef, Tag};
use super::{DOCKER_HUB, MAX_NAME_LEN, MAX_TAG_LEN, ReferencePart};

/// Reads a whole reference and builds it normalised; the caller turns a [`Fault`] into the
/// error for what was being parsed.
pub(super) fn parse_reference(input: &str) -> Result<ImageRef, Fault> {
    if input.is_empty() {
        return Err(Fault::new(ErrorKind::Empty, None));
    }
    if is_image_id(input) {
        return Err(Fault::new(ErrorKind::ImageId, None));
    }

    // Split off `@digest`, then `:tag` after the last `/` (a `:` before it is a port).
    let (before_digest, digest_start) = match input.find('@') {
        Some(at) => (&input[..at], Some(at + 1)),
        None => (input, None),
    };
    let last_component = before_digest.rfind('/').map_or(0, |slash| slash + 1);
    let (name, tag_start) = match before_digest[last_component..].find(':') {
        Some(colon) => {
            let colon = last_component + colon;
            (&before_digest[..colon], Some(colon + 1))
        }
        None => (before_digest, None),
    };
    if name.is_empty() {
        let before = input.chars().next().unwrap_or('@');
        return Err(Fault::at(ErrorKind::MissingName { before }, 0));
    }

    let (host, path_start) = match name.find('/') {
        Some(slash) if is_host_like(&name[..slash]) => (Some(&name[..slash]), slash + 1),
        _ => (None, 0),
    };
    let registry = match host {
        Some(host) => {
            let (address, port) = check_host(host)?;
            registry_name(address, port)
        }
        None => DOCKER_HUB.to_owned(),
    };
    let path = &name[path_start..];
    if path.is_empty() {
        let registry = host.unwrap_or_default().to_owned();
        return Err(Fault::at(
            ErrorKind::MissingRepository { registry },
            path_start,
        ));
    }
    let first_uppercase = check_path(input, path_start, name.len())?;

    let tag = match tag_start {
        Some(start) if start == before_digest.len() => {
            return Err(Fault::at(ErrorKind::EmptyTag, start - 1));
        }
        Some(start) => Some(check_tag(input, start, before_digest.len())?),
        None => None,
    };
    let digest = match digest_start {
        Some(start) if start == input.len() => {
            return Err(Fault::at(ErrorKind::EmptyDigest, start - 1));
        }
        Some(start) => Some(check_digest(input, start)?),
        None => None,
    };

    // Reported after the structural checks, so that the suggestion is a valid reference.
    if let Some(offset) = first_uppercase {
        let suggestion = lowercase_range(input, path_start, name.len());
        return Err(Fault::at(ErrorKind::UppercasePath, offset).suggesting(suggestion));
    }

    let registry_len = registry.len();
    let full = full_name(registry, path);
    let len = full.chars().count();
    if len > MAX_NAME_LEN {
        return Err(Fault::new(ErrorKind::NameTooLong { len }, None));
    }

    let tag_implied = tag.is_none() && digest.is_none();
    Ok(ImageRef {
        name: full,
        registry_len,
        tag: if tag_implied {
            Some(Tag::latest().clone())
        } else {
            tag
        },
        digest,
        tag_implied,
    })
}

/// Checks the host (which starts the input) and returns its address, as written, and port;
/// [`registry_name`] spells them.
fn check_host(host: &str) -> Result<(&str, Option<u16>), Fault> {
    let (address, port_start) = if let Some(bracketed) = host.strip_prefix('[') {
        let close = bracketed
            .find(']')
            .ok_or_else(|| Fault::at(ErrorKind::UnclosedBracket, 0))?;
        let inner = &bracketed[..close];
        if let Some((i, found)) = inner
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_hexdigit() || c == ':'))
        {
            return Err(Fault::unexpected(ReferencePart::Registry, found, 1 + i));
        }
        if inner.parse::<Ipv6Addr>().is_err() {
            let address = inner.to_owned();
            return Err(Fault::at(ErrorKind::InvalidIpv6 { address }, 1));
        }
        let after = close + 2;
        match host[after..].chars().next() {
            None => (&host[..after], None),
            Some(':') => (&host[..after], Some(after + 1)),
            Some(found) => return Err(Fault::unexpected(ReferencePart::Registry, found, after)),
        }
    } else {
        let (address, port_start) = match host.find(':') {
            Some(colon) => (&host[..colon], Some(colon + 1)),
            None => (host, None),
        };
        check_domain(address)?;
        (address, port_start)
    };

    let port = port_start
        .map(|start| check_port(&host[start..], start))
        .transpose()?;
    Ok((address, port))
}

/// Domain labels `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?` joined by `.`; `address` starts the
/// input.
fn check_domain(address: &str) -> Result<(), Fault> {
    if address.is_empty() {
        return Err(Fault::at(ErrorKind::EmptyHost, 0));
    }
    if let Some((i, found)) = address
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        return Err(Fault::unexpected(ReferencePart::Registry, found, i));
    }
    let mut start = 0;
    for label in address.split('.') {
        if label.is_empty() {
            return Err(Fault::at(ErrorKind::EmptyHostLabel, start));
        }
        if label.starts_with('-') || label.ends_with('-') {
            let label = label.to_owned();
            return Err(Fault::at(ErrorKind::HostLabelEdge { label }, start));
        }
        start += label.len() + 1;
    }
    Ok(())
}

/// A port from 1 to 65535; leading zeros are allowed and dropped.
fn check_port(port: &str, start: usize) -> Result<u16, Fault> {
    if port.is_empty() {
        return Err(Fault::at(ErrorKind::EmptyPort, start - 1));
    }
    let invalid = || {
        let port = port.to_owned();
        Fault::at(ErrorKind::InvalidPort { port }, start)
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let significant = port.trim_start_matches('0');
    if significant.len() > 5 {
        return Err(invalid());
    }
    match significant.parse::<u16>() {
        Ok(number) if number > 0 => Ok(number),
        _ => Err(invalid()),
    }
}

/// Checks the path `input[start..end]` (not empty); returns the offset of its first
/// upper-case letter, which the caller reports once everything else is known to be valid.
fn check_path(input: &str, start: usize, end: usize) -> Result<Option<usize>, Fault> {
    let path = &input[start..end];
    let mut first_uppercase = None;
    let mut component_start = start;
    let components = path.split('/').count();
    for (index, component) in path.split('/').enumerate() {
        if component.is_empty() {
            let slash = if index + 1 == components {
                Slash::Trailing
            } else if index == 0 && start == 0 {
                Slash::Leading
            } else {
                Slash::Doubled
            };
            // Point at the slash that is one too many.
            let offset = if slash == Slash::Trailing {
                component_start - 1
            } else {
                component_start
            };
            return Err(Fault::at(ErrorKind::EmptyPathComponent(slash), offset));
        }
        if let Some(offset) = check_path_component(component, component_start)? {
            first_uppercase = first_uppercase.or(Some(offset));
        }
        component_start += component.len() + 1;
    }
    Ok(first_uppercase)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`, with upper-case letters accepted for now and the
/// first one's offset returned.
fn check_path_component(component: &str, start: usize) -> Result<Option<usize>, Fault> {
    let is_separator = |c: char| matches!(c, '.' | '_' | '-');
    if let Some((i, found)) = component
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || is_separator(c)))
    {
        return Err(Fault::unexpected(
            ReferencePart::Repository,
            found,
            start + i,
        ));
    }
    // Only ASCII from here on, so bytes are characters.
    let bytes = component.as_bytes();
    if bytes
        .first()
        .copied()
        .is_some_and(|b| is_separator(char::from(b)))
        || bytes
            .last()
            .copied()
            .is_some_and(|b| is_separator(char::from(b)))
    {
        let component = component.to_owned();
        return Err(Fault::at(ErrorKind::SeparatorAtEdge { component }, start));
    }
    let mut i = 0;
    while i < bytes.len() {
        let run_start = i;
        while i < bytes.len() && is_separator(char::from(bytes[i])) {
            i += 1;
        }
        if i > run_start {
            let separator = &component[run_start..i];
            let valid =
                matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
            if !valid {
                let separator = separator.to_owned();
                return Err(Fault::at(
                    ErrorKind::InvalidSeparator { separator },
                    start + run_start,
                ));
            }
        }
        i += 1;
    }
    Ok(component
        .bytes()
        .position(|b| b.is_ascii_uppercase())
        .map(|i| start + i))
}

/// Checks the tag `input[start..end]` (not empty).
pub(super) fn check_tag(input: &str, start: usize, end: usize) -> Result<Tag, Fault> {
    let tag = &input[start..end];
    for (i, found) in tag.char_indices() {
        if i == 0 && matches!(found, '.' | '-') {
            return Err(Fault::at(ErrorKind::TagStart { found }, start));
        }
        if !(found.is_ascii_alphanumeric() || matches!(found, '_' | '.' | '-')) {
            return Err(Fault::unexpected(ReferencePart::Tag, found, start + i));
        }
    }
    if tag.len() > MAX_TAG_LEN {
        let len = tag.len();
        return Err(Fault::at(
            ErrorKind::TagTooLong { len },
            start + MAX_TAG_LEN,
        ));
    }
    Ok(Tag(CompactString::from(tag)))
}

/// Checks the digest that ends the input, from `start` (not empty).
pub(super) fn check_digest(input: &str, start: usize) -> Result<Digest, Fault> {
    let text = &input[start..];
    let Some((name, hex)) = text.split_once(':') else {
        let fault = Fault::new(ErrorKind::MissingAlgorithm, None);
        let lower = text.to_ascii_lowercase();
        let algorithm = [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512]
            .into_iter()
            .find(|algorithm| algorithm.hex_len() == lower.len());
        return Err(match algorithm {
            Some(algorithm) if lower.bytes().all(|b| b.is_ascii_hexdigit()) => {
                fault.suggesting(format!("{}{algorithm}:{lower}", &input[..start]))
            }
            _ => fault,
        });
    };
    let Some(algorithm) = DigestAlgorithm::from_name(&name.to_ascii_lowercase()) else {
        let algorithm = name.to_owned();
        return Err(Fault::at(
            ErrorKind::UnsupportedAlgorithm { algorithm },
            start,
        ));
    };
    let hex_start = start + name.len() + 1;
    if let Some((i, found)) = hex.char_indices().find(|&(_, c)| !c.is_ascii_hexdigit()) {
        return Err(Fault::unexpected(
            ReferencePart::Digest,
            found,
            hex_start + i,
        ));
    }
    if hex.len() != algorithm.hex_len() {
        let found = hex.len();
        return Err(Fault::new(
            ErrorKind::DigestLength { algorithm, found },
            None,
        ));
    }
    if let Some(i) = text.bytes().position(|b| b.is_ascii_uppercase()) {
        let suggestion = lowercase_range(input, start, input.len());
        return Err(Fault::at(ErrorKind::UppercaseDigest, start + i).suggesting(suggestion));
    }
    Ok(Digest {
        text: text.to_owned(),
        algorithm,
    })
}

/// `input` with `input[start..end]` in ASCII lower case.
fn lowercase_range(input: &str, start: usize, end: usize) -> String {
    let mut text = String::with_capacity(input.len());
    text.push_str(&input[..start]);
    text.push_str(&input[start..end].to_ascii_lowercase());
    text.push_str(&input[end..]);
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::reference::ReferenceError;
    use crate::reference::test_support::*;

    #[test]
    fn name_length_limit_counts_the_normalised_name() {
        // `ghcr.io/` + 247 = 255 characters: the limit.
        let longest = format!("ghcr.io/{}", "a".repeat(247));
        assert_eq!(parse(&longest).name().len(), MAX_NAME_LEN);
        let too_long = format!("ghcr.io/{}", "a".repeat(248));
        assert_err(
            &too_long,
            &format!(
                "invalid image reference '{too_long}': the name with its registry is 256 \
                 characters long; at most 255 are allowed"
            ),
        );
        // 240 characters as written, 258 once `docker.io/library/` is added.
        let hub = "a".repeat(240);
        assert_eq!(
            parse_err(&hub).to_string(),
            format!(
                "invalid image reference '{hub}': the name with its registry is 258 characters \
                 long; at most 255 are allowed"
            )
        );
    }

    // -----------------------------------------------------------------------------------------
    // Properties
    // -----------------------------------------------------------------------------------------

    fn path_component() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}",
            1 => Just("library".to_owned()),
            1 => Just("localhost".to_owned()),
        ]
    }

    fn domain() -> impl Strategy<Value = String> {
        let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?";
        prop_oneof![
            proptest::collection::vec(label, 1..4).prop_map(|labels| {
                // At least one `.`, so the host is told from a Hub namespace without a port.
                format!("{}.io", labels.join("."))
            }),
            Just("localhost".to_owned()),
            Just("LocalHost.Example.COM".to_owned()),
            "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}",
            any::<[u16; 8]>().prop_map(|parts| format!("[{}]", Ipv6Addr::from(parts))),
            Just("[::1]".to_owned()),
        ]
    }

    /// A registry as it may be written, and how it is normalised.
    fn registry() -> impl Strategy<Value = (Option<String>, String)> {
        let port = proptest::option::of(1u16..);
        prop_oneof![
            1 => Just((None, DOCKER_HUB.to_owned())),
            1 => prop_oneof![
                Just("docker.io"),
                Just("index.docker.io"),
                Just("registry-1.docker.io"),
                Just("Docker.io"),
            ]
            .prop_map(|host| (Some(host.to_owned()), DOCKER_HUB.to_owned())),
            3 => (domain(), port, "0{0,2}").prop_map(|(host, port, zeros)| match port {
                Some(port) => (
                    Some(format!("{host}:{zeros}{port}")),
                    format!("{}:{port}", host.to_ascii_lowercase()),
                ),
                None => (Some(host.clone()), host.to_ascii_lowercase()),
            }),
        ]
    }

    fn tag_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
            Just("latest".to_owned()),
            "[A-Za-z0-9_][A-Za-z0-9_.-]{127}",
        ]
    }

    fn digest_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9a-f]{64}".prop_map(|hex| format!("sha256:{hex}")),
            "[0-9a-f]{128}".prop_map(|hex| format!("sha512:{hex}")),
        ]
    }

    proptest! {
        #[test]
        fn valid_references_round_trip(
            (written_registry, registry) in registry(),
            components in proptest::collection::vec(path_component(), 1..4),
            tag in proptest::option::of(tag_text()),
            digest in proptest::option::of(digest_text()),
        ) {
            let path = components.join("/");
            let mut input = String::new();
            if let Some(host) = &written_registry {
                input.push_str(host);
                input.push('/');
            }
            input.push_str(&path);
            if let Some(tag) = &tag {
                input.push(':');
                input.push_str(tag);
            }
            if let Some(digest) = &digest {
                input.push('@');
                input.push_str(digest);
            }
            let reference: ImageRef = match input.parse() {
                Ok(reference) => reference,
                // A Hub path whose first component looks like a host is not a Hub path.
                Err(err) => {
                    prop_assert!(written_registry.is_none() && is_host_like(&components[0]),
                        "{input}: {err}");
                    return Ok(());
                }
            };
            if written_registry.is_some() || !is_host_like(&components[0]) || components.len() == 1 {
                prop_assert_eq!(reference.registry(), registry.as_str());
                let expected_repository = if registry == DOCKER_HUB && components.len() == 1 {
                    format!("library/{path}")
                } else {
                    path.clone()
                };
                prop_assert_eq!(reference.repository(), expected_repository.as_str());
            }
            let expected_tag = match (&tag, &digest) {
                (None, None) => Some("latest"),
                (tag, _) => tag.as_deref(),
            };
            prop_assert_eq!(reference.tag().map(Tag::as_str), expected_tag);
            prop_assert_eq!(reference.digest().map(Digest::as_str), digest.as_deref());
            prop_assert_eq!(reference.is_tag_implied(), tag.is_none() && digest.is_none());

            let canonical = reference.to_string();
            let from_canonical: ImageRef = canonical.parse().map_err(|err| {
                TestCaseError::fail(format!("{canonical}: {err}"))
            })?;
            prop_assert_eq!(&from_canonical, &reference);
            prop_assert_eq!(from_canonical.to_string(), canonical.clone());

            let short = reference.short().to_string();
            let from_short: ImageRef = short.parse().map_err(|err| {
                TestCaseError::fail(format!("{short}: {err}"))
            })?;
            prop_assert_eq!(&from_short, &reference);
            prop_assert_eq!(from_short.short().to_string(), short.clone());
            prop_assert_eq!(from_short.is_tag_implied(), reference.is_tag_implied());
            prop_assert!(short.len() <= canonical.len());
        }

        #[test]
        fn any_text_parses_to_a_value_that_round_trips_or_errs_cleanly(
            input in "[a-zA-Z0-9:/@._\\-\\[\\] ]{0,40}",
        ) {
            match input.parse::<ImageRef>() {
                Ok(reference) => {
                    prop_assert_eq!(reference.to_string().parse::<ImageRef>().ok(), Some(reference.clone()));
                    prop_assert_eq!(reference.short().to_string().parse::<ImageRef>().ok(), Some(reference));
                }
                Err(err) => {
                    prop_assert_eq!(err.input(), input.as_str());
                    prop_assert!(err.to_string().len() > input.len());
                    if let Some(position) = err.position() {
                        prop_assert!(position <= input.chars().count());
                    }
                    if let Some(suggestion) = err.suggestion() {
                        prop_assert!(suggestion.parse::<ImageRef>().is_ok(), "{}", suggestion);
                    }
                }
            }
        }

        #[test]
        fn arbitrary_unicode_never_panics(input in any::<String>()) {
            let _ = input.parse::<ImageRef>();
            let _ = input.parse::<Tag>();
            let _ = input.parse::<Digest>();
        }

        #[test]
        fn tags_round_trip(text in tag_text()) {
            let tag: Tag = text.parse().map_err(|err: ReferenceError| TestCaseError::fail(err.to_string()))?;
            prop_assert_eq!(tag.to_string(), text);
        }
    }
}
