//! Helpers shared by the reference module's unit tests.

use super::{ImageRef, ReferenceError};

pub(super) const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
pub(super) const HEX128: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                      47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

/// Replaces `{D}` with a sha256 digest and `{E}` with a sha512 one.
pub(super) fn fill(text: &str) -> String {
    text.replace("{D}", &format!("sha256:{HEX64}"))
        .replace("{E}", &format!("sha512:{HEX128}"))
}

#[track_caller]
pub(super) fn parse(input: &str) -> ImageRef {
    match input.parse::<ImageRef>() {
        Ok(reference) => reference,
        Err(err) => panic!("'{input}' should parse: {err}"),
    }
}

#[track_caller]
pub(super) fn parse_err(input: &str) -> ReferenceError {
    match input.parse::<ImageRef>() {
        Ok(reference) => panic!("'{input}' should not parse, got {reference}"),
        Err(err) => err,
    }
}

/// Parses `input` and checks the canonical and short forms and that both parse back.
#[track_caller]
pub(super) fn assert_forms(input: &str, canonical: &str, short: &str) {
    let (input, canonical, short) = (fill(input), fill(canonical), fill(short));
    let reference = parse(&input);
    assert_eq!(
        reference.to_string(),
        canonical,
        "canonical form of '{input}'"
    );
    assert_eq!(
        reference.short().to_string(),
        short,
        "short form of '{input}'"
    );
    assert_eq!(
        parse(&canonical),
        reference,
        "canonical form of '{input}' parsed"
    );
    assert_eq!(parse(&short), reference, "short form of '{input}' parsed");
}

#[track_caller]
pub(super) fn assert_err(input: &str, message: &str) {
    let (input, message) = (fill(input), fill(message));
    assert_eq!(parse_err(&input).to_string(), message);
}
