//! Semver-style version ranges, such as `^1.2`, `~1.2.3`, `>=1.2 <2`, `1.x` and
//! `1.2 - 1.4 || >=2.1`, for limiting which versions an update may move to.
//!
//! # Syntax
//!
//! A range is one or more comparator sets joined by `||`; a version matches when it matches
//! every comparator of at least one set. A set is either a hyphen range `A - B` or
//! comparators separated by spaces. A comparator is an operator (`=`, `>`, `>=`, `<`, `<=`,
//! `^`, `~`, `~>`, or none for `=`) and a partial version (`1`, `1.2`, `1.2.3`, with an
//! optional `v`; `x`, `X` or `*` stand for any number). They mean what they mean in
//! node-semver and Cargo: `^1.2` is `>=1.2.0 <2.0.0`, `^0.2.3` is `>=0.2.3 <0.3.0`, `~1.2.3`
//! is `>=1.2.3 <1.3.0`, `1.x` is `>=1.0.0 <2.0.0`, `>1.2` is `>=1.3.0`, `<=1.2` is `<1.3.0`.
//!
//! # What a range looks at
//! Only a version's release numbers, zero-padded (`1.2` is matched as `1.2.0`; a fourth part
//! counts after the third). Pre-releases and variants are left to the other selection rules:
//! whether pre-releases may be chosen at all is a separate switch.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::Version;

/// A parsed version range; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    text: String,
    sets: Vec<Vec<Bound>>,
}

/// One primitive comparison against a zero-padded release.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bound {
    op: Op,
    release: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Greater,
    GreaterEq,
    Less,
    LessEq,
    Eq,
}

impl Range {
    /// Parses a range; see the [module documentation](self) for the syntax.
    pub fn parse(text: &str) -> Result<Self, RangeError> {
        let mut sets = Vec::new();
        for set in text.split("||") {
            sets.push(parse_set(text, set)?);
        }
        Ok(Self {
            text: text.to_owned(),
            sets,
        })
    }

    /// True when the version's release numbers fall in the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.matches_release(version.release())
    }

    /// True when `release` (zero-padded) falls in the range.
    pub fn matches_release(&self, release: &[u64]) -> bool {
        self.sets
            .iter()
            .any(|set| set.iter().all(|bound| bound.matches(release)))
    }

    /// The range as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Bound {
    fn matches(&self, release: &[u64]) -> bool {
        let ordering = compare_padded(release, &self.release);
        match self.op {
            Op::Greater => ordering == Ordering::Greater,
            Op::GreaterEq => ordering != Ordering::Less,
            Op::Less => ordering == Ordering::Less,
            Op::LessEq => ordering != Ordering::Greater,
            Op::Eq => ordering == Ordering::Equal,
        }
    }
}

fn compare_padded(a: &[u64], b: &[u64]) -> Ordering {
    (0..a.len().max(b.len()))
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Why a range could not be read. The message quotes the range and the piece at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    range: String,
    problem: String,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid range '{}': {}", self.range, self.problem)
    }
}

impl std::error::Error for RangeError {}

fn error(range: &str, problem: String) -> RangeError {
    RangeError {
        range: range.to_owned(),
        problem,
    }
}

/// A partial version: the numbers written before the first wildcard or the end.
struct Partial {
    numbers: Vec<u64>,
}

impl Partial {
    /// The lowest release the partial covers: missing parts are zero.
    fn floor(&self) -> Vec<u64> {
        let mut release = self.numbers.clone();
        release.resize(3.max(release.len()), 0);
        release
    }

    /// The first release past what the partial covers (`1.2` -> `1.3.0`), or `None` for `*`.
    fn ceiling(&self) -> Option<Vec<u64>> {
        let last = self.numbers.len().checked_sub(1)?;
        let mut release = self.numbers[..last].to_vec();
        release.push(self.numbers[last].saturating_add(1));
        release.resize(3.max(release.len()), 0);
        Some(release)
    }

    fn is_exact(&self) -> bool {
        self.numbers.len() >= 3
    }
}

fn parse_set(range: &str, set: &str) -> Result<Vec<Bound>, RangeError> {
    let words: Vec<&str> = set.split_whitespace().collect();
    if words.is_empty() {
        return if set.is_empty() && range.trim().is_empty() || range.trim() == set.trim() {
            Ok(Vec::new())
        } else {
            Err(error(
                range,
                "empty alternative around '||'; write a comparator on both sides".to_owned(),
            ))
        };
    }
    if let Some(dash) = words.iter().position(|w| *w == "-") {
        if words.len() != 3 || dash != 1 {
            return Err(error(
                range,
                format!(
                    "hyphen range '{}' must be 'LOW - HIGH' with spaces around '-'",
                    set.trim()
                ),
            ));
        }
        let low = parse_partial(range, words[0])?;
        let high = parse_partial(range, words[2])?;
        let mut bounds = vec![Bound {
            op: Op::GreaterEq,
            release: low.floor(),
        }];
        if high.is_exact() {
            bounds.push(Bound {
                op: Op::LessEq,
                release: high.numbers,
            });
        } else if let Some(ceiling) = high.ceiling() {
            bounds.push(Bound {
                op: Op::Less,
                release: ceiling,
            });
        }
        return Ok(bounds);
    }
    // Operators may stand apart from their version: `>= 1.2`.
    let mut joined: Vec<String> = Vec::new();
    let mut pending_operator: Option<&str> = None;
    for word in words {
        if let Some(operator) = pending_operator.take() {
            joined.push(format!("{operator}{word}"));
        } else if word
            .trim_start_matches(['<', '>', '=', '^', '~'])
            .is_empty()
        {
            pending_operator = Some(word);
        } else {
            joined.push(word.to_owned());
        }
    }
    if let Some(operator) = pending_operator {
        return Err(error(
            range,
            format!("expected a version after '{operator}'"),
        ));
    }
    let mut bounds = Vec::new();
    for comparator in &joined {
        bounds.extend(parse_comparator(range, comparator)?);
    }
    Ok(bounds)
}

fn parse_comparator(range: &str, comparator: &str) -> Result<Vec<Bound>, RangeError> {
    let operators = [">=", "<=", "~>", ">", "<", "=", "^", "~"];
    let (operator, rest) = operators
        .iter()
        .find_map(|op| comparator.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("", comparator));
    if rest.is_empty() {
        return Err(error(
            range,
            format!("expected a version after '{operator}'"),
        ));
    }
    let partial = parse_partial(range, rest)?;
    let floor = partial.floor();
    let ceiling = partial.ceiling();
    let bound = |op, release| Bound { op, release };
    let bounds = match operator {
        "" | "=" => match ceiling {
            _ if partial.is_exact() => vec![bound(Op::Eq, partial.numbers)],
            Some(ceiling) => vec![bound(Op::GreaterEq, floor), bound(Op::Less, ceiling)],
            None => Vec::new(),
        },
        ">=" => vec![bound(Op::GreaterEq, floor)],
        "<" => vec![bound(Op::Less, floor)],
        ">" => match ceiling {
            _ if partial.is_exact() => vec![bound(Op::Greater, partial.numbers)],
            Some(ceiling) => vec![bound(Op::GreaterEq, ceiling)],
            // `>*` matches nothing.
            None => vec![bound(Op::Less, vec![0, 0, 0])],
        },
        "<=" => match ceiling {
            _ if partial.is_exact() => vec![bound(Op::LessEq, partial.numbers)],
            Some(ceiling) => vec![bound(Op::Less, ceiling)],
            None => Vec::new(),
        },
        "~" | "~>" => {
            // Same minor line when a minor is written, else same major line.
            let kept = partial.numbers.len().clamp(1, 2);
            let upper = Partial {
                numbers: partial.numbers[..kept.min(partial.numbers.len())].to_vec(),
            };
            match upper.ceiling() {
                Some(ceiling) => vec![bound(Op::GreaterEq, floor), bound(Op::Less, ceiling)],
                None => Vec::new(),
            }
        }
        "^" => {
            // Keep the left-most non-zero part; a partial's missing parts are free.
            let numbers = &partial.numbers;
            let first_non_zero = numbers.iter().position(|n| *n != 0);
            let kept = match first_non_zero {
                Some(index) => index + 1,
                None => numbers.len(),
            };
            let upper = Partial {
                numbers: numbers[..kept.min(numbers.len())].to_vec(),
            };
            match upper.ceiling() {
                Some(ceiling) => vec![bound(Op::GreaterEq, floor), bound(Op::Less, ceiling)],
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    Ok(bounds)
}

fn parse_partial(range: &str, text: &str) -> Result<Partial, RangeError> {
    let trimmed = text.strip_prefix(['v', 'V']).unwrap_or(text);
    // Pre-release and build parts are not looked at; see the module documentation.
    let release = trimmed
        .split_once(['-', '+'])
        .map_or(trimmed, |(release, _)| release);
    let mut numbers = Vec::new();
    let mut wildcard = false;
    for part in release.split('.') {
        if matches!(part, "x" | "X" | "*") {
            wildcard = true;
            continue;
        }
        if wildcard {
            return Err(error(
                range,
                format!(
                    "'{text}' has a number after a wildcard; write it as '{}'",
                    {
                        let kept: Vec<String> = numbers.iter().map(u64::to_string).collect();
                        if kept.is_empty() {
                            "*".to_owned()
                        } else {
                            format!("{}.x", kept.join("."))
                        }
                    }
                ),
            ));
        }
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error(
                range,
                format!("'{text}' is not a version: expected numbers such as '1.2.3', 'x' or '*'"),
            ));
        }
        let number = part.parse::<u64>().map_err(|_| {
            error(
                range,
                format!("'{part}' in '{text}' is too large: numbers must fit in 64 bits"),
            )
        })?;
        numbers.push(number);
    }
    Ok(Partial { numbers })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Scheme;

    #[track_caller]
    fn check(range: &str, matching: &[&str], not_matching: &[&str]) {
        let parsed = Range::parse(range).unwrap();
        for text in matching {
            let version = Version::parse(text, &Scheme::Docker).unwrap();
            assert!(parsed.matches(&version), "{range} should match {text}");
        }
        for text in not_matching {
            let version = Version::parse(text, &Scheme::Docker).unwrap();
            assert!(!parsed.matches(&version), "{range} should not match {text}");
        }
    }

    #[track_caller]
    fn check_error(range: &str, message: &str) {
        assert_eq!(Range::parse(range).unwrap_err().to_string(), message);
    }

    #[test]
    fn caret() {
        check(
            "^1.2",
            &["1.2.0", "1.9.9", "1.2"],
            &["1.1.9", "2.0.0", "0.9"],
        );
        check("^1.2.3", &["1.2.3", "1.3.0"], &["1.2.2", "2.0.0"]);
        check("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0", "0.2.2"]);
        check("^0.0.3", &["0.0.3"], &["0.0.4", "0.0.2"]);
        check("^0.0", &["0.0.0", "0.0.9"], &["0.1.0"]);
        check("^1", &["1.0.0", "1.99"], &["2", "0.9"]);
    }

    #[test]
    fn tilde() {
        check("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]);
        check("~1.2", &["1.2.0", "1.2.9"], &["1.3.0"]);
        check("~1", &["1.0.0", "1.9.0"], &["2.0.0"]);
        check("~>1.2", &["1.2.5"], &["1.3.0"]);
    }

    #[test]
    fn comparators_and_x_ranges() {
        check(">=1.2 <2", &["1.2.0", "1.99.0"], &["2.0.0", "1.1.9"]);
        check(">= 1.2 < 2", &["1.5"], &["2.0"]);
        check("1.x", &["1.0.0", "1.9.9"], &["2.0.0", "0.9.0"]);
        check("1.2.*", &["1.2.7"], &["1.3.0"]);
        check("*", &["0.0.1", "99"], &[]);
        check("", &["1.0.0"], &[]);
        check(">1.2", &["1.3.0"], &["1.2.9"]);
        check(">1.2.3", &["1.2.4"], &["1.2.3"]);
        check("<=1.2", &["1.2.9"], &["1.3.0"]);
        check("<1.2", &["1.1.9"], &["1.2.0"]);
        check("=1.2.3", &["1.2.3", "v1.2.3"], &["1.2.4"]);
        check("1.2.3", &["1.2.3"], &["1.2.3.1"]);
        check(">=1.2.3.4", &["1.2.3.4", "1.2.4"], &["1.2.3.3", "1.2.3"]);
    }

    #[test]
    fn hyphen_and_alternatives() {
        check("1.2 - 1.4", &["1.2.0", "1.4.9"], &["1.5.0", "1.1.0"]);
        check("1.2.3 - 1.4.5", &["1.4.5"], &["1.4.6"]);
        check("<1 || >=3", &["0.5", "3.0"], &["1.0", "2.9"]);
    }

    #[test]
    fn errors_name_the_piece_and_the_fix() {
        check_error(
            ">=1.2 <",
            "invalid range '>=1.2 <': expected a version after '<'",
        );
        check_error(
            "abc",
            "invalid range 'abc': 'abc' is not a version: expected numbers such as '1.2.3', 'x' or '*'",
        );
        check_error(
            "1.x.3",
            "invalid range '1.x.3': '1.x.3' has a number after a wildcard; write it as '1.x'",
        );
        check_error(
            "1 ||",
            "invalid range '1 ||': empty alternative around '||'; write a comparator on both sides",
        );
        check_error(
            "1 - 2 - 3",
            "invalid range '1 - 2 - 3': hyphen range '1 - 2 - 3' must be 'LOW - HIGH' with spaces around '-'",
        );
        check_error(
            "99999999999999999999999",
            "invalid range '99999999999999999999999': '99999999999999999999999' in '99999999999999999999999' is too large: numbers must fit in 64 bits",
        );
    }
}
