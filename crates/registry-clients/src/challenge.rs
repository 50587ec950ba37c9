//! Temporary stand-in; replaced by the full parser.
#![allow(missing_docs, unreachable_pub)]

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic { realm: Option<String> },
    Bearer(BearerChallenge),
    Other { scheme: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for header in headers {
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let field = |name: &str| {
            rest.split(',').find_map(|part| {
                let (key, value) = part.trim().split_once('=')?;
                (key == name).then(|| value.trim_matches('"').to_owned())
            })
        };
        if scheme.eq_ignore_ascii_case("bearer") {
            out.push(Challenge::Bearer(BearerChallenge {
                realm: field("realm").unwrap_or_default(),
                service: field("service"),
                scope: field("scope"),
                error: field("error"),
            }));
        } else if scheme.eq_ignore_ascii_case("basic") {
            out.push(Challenge::Basic {
                realm: field("realm"),
            });
        } else {
            out.push(Challenge::Other {
                scheme: scheme.to_owned(),
            });
        }
    }
    out
}

pub fn preferred(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges
        .iter()
        .find(|c| matches!(c, Challenge::Bearer(_)))
        .or_else(|| {
            challenges
                .iter()
                .find(|c| matches!(c, Challenge::Basic { .. }))
        })
}

pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}
