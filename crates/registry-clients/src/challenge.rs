//! Reading `WWW-Authenticate` challenges and token scopes.
//!
//! A registry that wants credentials answers 401 with one or more `WWW-Authenticate`
//! headers. [`parse_challenges`] turns them into [`Challenge`]s, [`preferred`] picks the one
//! to answer (Bearer before Basic), and [`Scope`] reads the `scope` a Bearer challenge names.
//!
//! The parser is lenient, because registries are: the scheme and parameter names are
//! case-insensitive, values may be quoted (with `\` escapes) or bare (gcr.io's
//! `service=gcr.io`), one header may hold several challenges and a response may carry several
//! headers. Whatever it cannot read it skips; it never fails and never panics.
//!
//! # What this module does not do
//! It does no IO and keeps no state: fetching tokens, caching them and deciding when to drop
//! one (`invalid_token`) belong to the client in [`crate::oci`].

use std::fmt;
use std::str::FromStr;

/// One authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Challenge {
    /// `Basic`: send `Authorization: Basic base64(user:password)` on every request.
    Basic {
        /// The protection space the registry named, if any (informational only).
        realm: Option<String>,
    },
    /// `Bearer`: fetch a token from the realm and send it.
    Bearer(BearerChallenge),
    /// Any other scheme (`Negotiate`, `Digest`), which upkeep cannot answer.
    Other {
        /// The scheme as the registry wrote it.
        scheme: String,
    },
}

/// The parameters of a `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The token endpoint's URL. Empty when the registry named none: such a challenge cannot
    /// be answered, and [`preferred`] ranks it below `Basic`.
    pub realm: String,
    /// The `service` to name in the token request, if given.
    pub service: Option<String>,
    /// The scope the request needs, as written (see [`Scope`] to read it); absent on `/v2/`,
    /// where the client builds one itself with [`pull_scope`].
    pub scope: Option<String>,
    /// Why the presented token was refused, as written (see [`BearerChallenge::token_error`]).
    pub error: Option<String>,
}

/// Why a registry refused a Bearer token, from the challenge's `error` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// `invalid_token`: the token expired or is bad; drop it and fetch a new one once.
    InvalidToken,
    /// `insufficient_scope`: the token lacks the scope; fetch one for the challenge's scope.
    InsufficientScope,
    /// Any other code, as written.
    Other(String),
}

impl BearerChallenge {
    /// The challenge's `error` parameter as a [`TokenError`], if it has one.
    pub fn token_error(&self) -> Option<TokenError> {
        let error = self.error.as_deref()?;
        Some(if error.eq_ignore_ascii_case("invalid_token") {
            TokenError::InvalidToken
        } else if error.eq_ignore_ascii_case("insufficient_scope") {
            TokenError::InsufficientScope
        } else {
            TokenError::Other(error.to_owned())
        })
    }
}

/// Every challenge in `headers` (the values of all `WWW-Authenticate` headers of one
/// response), in the order given. Unreadable parts are skipped; an empty result means the
/// response offered nothing upkeep could read.
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    for header in headers {
        parse_header(header, &mut challenges);
    }
    challenges
}

/// The challenge to answer: a Bearer challenge with a realm first, then Basic, then a Bearer
/// challenge without a realm (which will fail, but says why); `None` when only unknown
/// schemes were offered.
pub fn preferred(challenges: &[Challenge]) -> Option<&Challenge> {
    let bearer_with_realm = challenges.iter().find(
        |challenge| matches!(challenge, Challenge::Bearer(bearer) if !bearer.realm.is_empty()),
    );
    bearer_with_realm
        .or_else(|| {
            challenges
                .iter()
                .find(|challenge| matches!(challenge, Challenge::Basic { .. }))
        })
        .or_else(|| {
            challenges
                .iter()
                .find(|challenge| matches!(challenge, Challenge::Bearer(_)))
        })
}

/// The scope for pulling `repository` (`repository:library/nginx:pull`), which the client
/// asks for when the challenge names none, as on `/v2/`.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// One token scope: `resourcetype[(class)]:resourcename:action[,action]`.
///
/// The resource name may itself contain `:` (a host with a port), so the type ends at the
/// first colon and the actions start after the last one. [`Display`](fmt::Display) writes the
/// scope back as it was read.
///
/// ```
/// use upkeep_registry_clients::challenge::Scope;
///
/// let scope: Scope = "repository:localhost:5000/app:pull,push".parse().unwrap();
/// assert_eq!(scope.resource_type(), "repository");
/// assert_eq!(scope.name(), "localhost:5000/app");
/// assert_eq!(scope.actions(), ["pull", "push"]);
/// assert_eq!(scope.to_string(), "repository:localhost:5000/app:pull,push");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    resource_type: String,
    class: Option<String>,
    name: String,
    actions: Vec<String>,
}

impl Scope {
    /// The resource type: `repository` or `registry`.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The resource class in parentheses after the type (`plugin` in
    /// `repository(plugin):…`), if any.
    pub fn class(&self) -> Option<&str> {
        self.class.as_deref()
    }

    /// The resource name: a repository (`library/nginx`) or `catalog`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The actions, in the order written: `pull`, `push`, `delete`, `*`.
    pub fn actions(&self) -> &[String] {
        &self.actions
    }

    /// True when the scope grants `action`, directly or through `*`.
    pub fn allows(&self, action: &str) -> bool {
        self.actions
            .iter()
            .any(|granted| granted == "*" || granted == action)
    }
}

/// Every scope in `text`, where several are separated by spaces (as in a challenge's
/// `scope` parameter or a token response's `scope` field). Empty text gives no scopes.
pub fn parse_scopes(text: &str) -> Result<Vec<Scope>, ScopeError> {
    text.split_whitespace().map(str::parse).collect()
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |problem| ScopeError {
            scope: text.to_owned(),
            problem,
        };
        let (type_and_class, rest) = text
            .split_once(':')
            .ok_or_else(|| error(ScopeProblem::NotThreeParts))?;
        let (name, actions) = rest
            .rsplit_once(':')
            .ok_or_else(|| error(ScopeProblem::NotThreeParts))?;
        let (resource_type, class) = match type_and_class.split_once('(') {
            Some((resource_type, class)) => {
                let class = class
                    .strip_suffix(')')
                    .ok_or_else(|| error(ScopeProblem::UnclosedClass))?;
                (resource_type, Some(class))
            }
            None => (type_and_class, None),
        };
        if !is_scope_word(resource_type) {
            return Err(error(ScopeProblem::BadType));
        }
        if let Some(class) = class
            && !is_scope_word(class)
        {
            return Err(error(ScopeProblem::BadClass));
        }
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(error(ScopeProblem::BadName));
        }
        if actions.is_empty() {
            return Err(error(ScopeProblem::NoActions));
        }
        let actions: Vec<String> = actions.split(',').map(str::to_owned).collect();
        if actions
            .iter()
            .any(|action| action.is_empty() || action.contains(char::is_whitespace))
        {
            return Err(error(ScopeProblem::EmptyAction));
        }
        Ok(Self {
            resource_type: resource_type.to_owned(),
            class: class.map(str::to_owned),
            name: name.to_owned(),
            actions,
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resource_type)?;
        if let Some(class) = &self.class {
            write!(f, "({class})")?;
        }
        write!(f, ":{}:{}", self.name, self.actions.join(","))
    }
}

/// A scope that does not follow `resourcetype[(class)]:resourcename:action[,action]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope '{scope}' {problem}")]
pub struct ScopeError {
    scope: String,
    problem: ScopeProblem,
}

impl ScopeError {
    /// The scope text that failed to parse.
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeProblem {
    NotThreeParts,
    UnclosedClass,
    BadType,
    BadClass,
    BadName,
    NoActions,
    EmptyAction,
}

impl fmt::Display for ScopeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotThreeParts => {
                "is not 'type:name:actions'; expected something like \
                 'repository:library/nginx:pull'"
            }
            Self::UnclosedClass => "has a resource class without its closing ')'",
            Self::BadType => "has a resource type that is not letters and digits",
            Self::BadClass => "has a resource class that is not letters and digits",
            Self::BadName => "has an empty resource name or one with spaces",
            Self::NoActions => "has no actions after the last ':'",
            Self::EmptyAction => "has an empty action; separate actions with single commas",
        })
    }
}

fn is_scope_word(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric())
}

// ---------------------------------------------------------------------------------------------
// The header parser.
//
// RFC 9110 §11.6.1: `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, with
// challenges and parameters both separated by commas. A token followed by `=` and a value is a
// parameter of the current challenge; a token right after a scheme (no comma between) that is
// not a parameter is the scheme's token68; any other token starts a new challenge.

/// A challenge being read: its scheme and the parameters seen so far (names lower-cased).
struct PartialChallenge<'a> {
    scheme: &'a str,
    params: Vec<(String, String)>,
}

impl PartialChallenge<'_> {
    /// The first value of parameter `name`; RFC 9110 allows each name once, so later
    /// repeats are ignored.
    fn param(&self, name: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    fn finish(self) -> Challenge {
        if self.scheme.eq_ignore_ascii_case("bearer") {
            Challenge::Bearer(BearerChallenge {
                realm: self.param("realm").unwrap_or_default(),
                service: self.param("service"),
                scope: self.param("scope"),
                error: self.param("error"),
            })
        } else if self.scheme.eq_ignore_ascii_case("basic") {
            Challenge::Basic {
                realm: self.param("realm"),
            }
        } else {
            Challenge::Other {
                scheme: self.scheme.to_owned(),
            }
        }
    }
}

fn parse_header(header: &str, challenges: &mut Vec<Challenge>) {
    let mut cursor = Cursor::new(header);
    let mut current: Option<PartialChallenge<'_>> = None;
    // True right after a scheme, until a comma or a parameter: where a token68 may stand.
    let mut after_scheme = false;
    loop {
        cursor.skip_while(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        let Some(next) = cursor.peek() else { break };
        if next == ',' {
            cursor.bump();
            after_scheme = false;
            continue;
        }
        let token = cursor.take_while(is_tchar);
        if token.is_empty() {
            // Not a token: stray punctuation or a quoted string out of place. Skip it whole.
            if next == '"' {
                cursor.quoted_string();
            } else {
                cursor.bump();
            }
            continue;
        }
        let after_token = cursor.position();
        cursor.skip_while(is_bws);
        if cursor.peek() == Some('=') {
            cursor.bump();
            cursor.skip_while(is_bws);
            match cursor.peek() {
                Some('"') => {
                    let value = cursor.quoted_string();
                    add_param(current.as_mut(), token, value);
                    after_scheme = false;
                    continue;
                }
                Some(c) if c != ',' && c != '=' && !c.is_whitespace() => {
                    let value = cursor.take_while(|c| c != ',' && c != '"' && !c.is_whitespace());
                    add_param(current.as_mut(), token, value.to_owned());
                    after_scheme = false;
                    continue;
                }
                // `token=` with nothing after it, or `token==…`: a token68's padding.
                _ => {
                    cursor.skip_while(|c| c == '=');
                    after_scheme = false;
                    continue;
                }
            }
        }
        cursor.seek(after_token);
        if after_scheme {
            // The scheme's token68 (`Basic dGVzdA==`, `Negotiate YII…`); upkeep needs none.
            cursor.skip_while(|c| is_tchar(c) || c == '/' || c == '=');
            after_scheme = false;
            continue;
        }
        if let Some(done) = current.take() {
            challenges.push(done.finish());
        }
        current = Some(PartialChallenge {
            scheme: token,
            params: Vec::new(),
        });
        after_scheme = true;
    }
    if let Some(done) = current {
        challenges.push(done.finish());
    }
}

/// Records `name=value` on the current challenge; a parameter before any scheme has no
/// challenge to belong to and is dropped.
fn add_param(current: Option<&mut PartialChallenge<'_>>, name: &str, value: String) {
    if let Some(challenge) = current {
        challenge.params.push((name.to_ascii_lowercase(), value));
    }
}

/// RFC 9110 `tchar`: the characters of a token (schemes, parameter names).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// RFC 9110 `BWS`: the optional spaces around `=`.
fn is_bws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A position in the header text that only ever moves over whole characters, so slicing at
/// it cannot split a UTF-8 sequence.
struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, position: 0 }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += c.len_utf8();
        Some(c)
    }

    fn position(&self) -> usize {
        self.position
    }

    fn seek(&mut self, position: usize) {
        self.position = position;
    }

    fn take_while(&mut self, mut keep: impl FnMut(char) -> bool) -> &'a str {
        let start = self.position;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            self.position += c.len_utf8();
        }
        self.text.get(start..self.position).unwrap_or_default()
    }

    fn skip_while(&mut self, skip: impl FnMut(char) -> bool) {
        self.take_while(skip);
    }

    /// Reads a quoted string starting at the opening `"`, undoing `\` escapes. An unclosed
    /// string runs to the end of the header.
    fn quoted_string(&mut self) -> String {
        let mut value = String::new();
        self.bump();
        while let Some(c) = self.bump() {
            match c {
                '"' => break,
                '\\' => {
                    if let Some(escaped) = self.bump() {
                        value.push(escaped);
                    }
                }
                _ => value.push(c),
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer(BearerChallenge {
            realm: realm.to_owned(),
            service: service.map(str::to_owned),
            scope: scope.map(str::to_owned),
            error: None,
        })
    }

    fn bearer_error(realm: &str, scope: &str, error: &str) -> Challenge {
        Challenge::Bearer(BearerChallenge {
            realm: realm.to_owned(),
            service: Some("registry.example.com".to_owned()),
            scope: Some(scope.to_owned()),
            error: Some(error.to_owned()),
        })
    }

    fn basic(realm: Option<&str>) -> Challenge {
        Challenge::Basic {
            realm: realm.map(str::to_owned),
        }
    }

    fn other(scheme: &str) -> Challenge {
        Challenge::Other {
            scheme: scheme.to_owned(),
        }
    }

    #[track_caller]
    fn assert_parses(header: &str, expected: &[Challenge]) {
        assert_eq!(parse_challenges([header]), expected, "header: {header}");
    }

    #[test]
    fn every_form_in_the_reference() {
        let cases: &[(&str, Vec<Challenge>)] = &[
            (
                r#"Basic realm="test-registry""#,
                vec![basic(Some("test-registry"))],
            ),
            (
                r#"Basic realm="https://123456789012.dkr.ecr.eu-central-1.amazonaws.com/",service="ecr.amazonaws.com""#,
                vec![basic(Some(
                    "https://123456789012.dkr.ecr.eu-central-1.amazonaws.com/",
                ))],
            ),
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
                vec![bearer(
                    "https://auth.docker.io/token",
                    Some("registry.docker.io"),
                    Some("repository:library/nginx:pull"),
                )],
            ),
            (
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:owner/image:pull""#,
                vec![bearer(
                    "https://ghcr.io/token",
                    Some("ghcr.io"),
                    Some("repository:owner/image:pull"),
                )],
            ),
            (
                r#"Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:ns/repo:pull""#,
                vec![bearer(
                    "https://quay.io/v2/auth",
                    Some("quay.io"),
                    Some("repository:ns/repo:pull"),
                )],
            ),
            (
                r#"Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws""#,
                vec![bearer(
                    "https://public.ecr.aws/token/",
                    Some("public.ecr.aws"),
                    Some("aws"),
                )],
            ),
            (
                r#"Bearer realm="https://gcr.io/v2/token",service=gcr.io"#,
                vec![bearer("https://gcr.io/v2/token", Some("gcr.io"), None)],
            ),
            (
                r#"Bearer realm="https://r.example.com/token",service="registry.example.com",scope="repository:x:pull",error="insufficient_scope""#,
                vec![bearer_error(
                    "https://r.example.com/token",
                    "repository:x:pull",
                    "insufficient_scope",
                )],
            ),
        ];
        for (header, expected) in cases {
            assert_parses(header, expected);
        }
    }

    #[test]
    fn scheme_and_parameter_names_are_case_insensitive() {
        let expected = [bearer("https://r/token", Some("svc"), None)];
        for header in [
            r#"Bearer realm="https://r/token",service="svc""#,
            r#"bearer realm="https://r/token",service="svc""#,
            r#"BEARER REALM="https://r/token",Service="svc""#,
            r#"bEaReR rEaLm="https://r/token",sErViCe="svc""#,
        ] {
            assert_parses(header, &expected);
        }
        assert_parses(r#"BASIC Realm="x""#, &[basic(Some("x"))]);
    }

    #[test]
    fn quoting_escapes_and_spacing() {
        let cases: &[(&str, Challenge)] = &[
            // Bare values, as gcr.io sends them.
            (
                "Bearer realm=https://r/token,service=gcr.io",
                bearer("https://r/token", Some("gcr.io"), None),
            ),
            // Escaped quotes and backslashes inside a quoted value.
            (
                r#"Basic realm="say \"hi\" \\ bye""#,
                basic(Some(r#"say "hi" \ bye"#)),
            ),
            // Commas inside a quoted value belong to it.
            (
                r#"Bearer realm="https://r/token",scope="repository:a/b:pull,push",service="s""#,
                bearer(
                    "https://r/token",
                    Some("s"),
                    Some("repository:a/b:pull,push"),
                ),
            ),
            // Several scopes separated by a space in one quoted value.
            (
                r#"Bearer realm="https://r/token",scope="repository:a:pull registry:catalog:*""#,
                bearer(
                    "https://r/token",
                    None,
                    Some("repository:a:pull registry:catalog:*"),
                ),
            ),
            // Spaces around `=` and after commas; a tab after the scheme.
            (
                "Bearer\trealm = \"https://r/token\" ,  service =  svc",
                bearer("https://r/token", Some("svc"), None),
            ),
            // An empty quoted value is a value.
            (r#"Basic realm="""#, basic(Some(""))),
            // Unclosed quotes run to the end of the header.
            (
                r#"Bearer realm="https://r/token"#,
                bearer("https://r/token", None, None),
            ),
            // A repeated parameter keeps its first value.
            (
                r#"Bearer realm="first",realm="second""#,
                bearer("first", None, None),
            ),
            // Unknown parameters are ignored.
            (
                r#"Bearer realm="r",error_description="token expired",foo=bar"#,
                bearer("r", None, None),
            ),
            // Non-ASCII text survives (headers should not carry it, but strings can).
            (r#"Basic realm="régistre ü""#, basic(Some("régistre ü"))),
        ];
        for (header, expected) in cases {
            assert_parses(header, std::slice::from_ref(expected));
        }
    }

    #[test]
    fn several_challenges_in_one_header() {
        assert_parses(
            r#"Bearer realm="https://r/token",scope="*",Basic realm="fallback""#,
            &[
                bearer("https://r/token", None, Some("*")),
                basic(Some("fallback")),
            ],
        );
        assert_parses(
            r#"Basic realm="a", Bearer realm="https://r/token", service="s", Negotiate"#,
            &[
                basic(Some("a")),
                bearer("https://r/token", Some("s"), None),
                other("Negotiate"),
            ],
        );
        // A missing comma between challenges is forgiven.
        assert_parses(
            r#"Bearer realm="r" Basic realm="b""#,
            &[bearer("r", None, None), basic(Some("b"))],
        );
        // Bare schemes separated by commas.
        assert_parses("Basic, Bearer", &[basic(None), bearer("", None, None)]);
    }

    #[test]
    fn token68_and_unknown_schemes() {
        let cases: &[(&str, Vec<Challenge>)] = &[
            ("Basic dGVzdHVzZXI6dGVzdHBhc3M=", vec![basic(None)]),
            (
                "Negotiate YIIB+gYGKwYBBQUCoII/8DCC==",
                vec![other("Negotiate")],
            ),
            (
                "Negotiate abc, Basic realm=x",
                vec![other("Negotiate"), basic(Some("x"))],
            ),
            (
                r#"Digest realm="r", nonce="abc", qop="auth""#,
                vec![other("Digest")],
            ),
            ("Bearer", vec![bearer("", None, None)]),
            ("Basic", vec![basic(None)]),
            ("Mutual", vec![other("Mutual")]),
        ];
        for (header, expected) in cases {
            assert_parses(header, expected);
        }
    }

    #[test]
    fn several_headers() {
        let headers = [
            r#"Basic realm="registry""#,
            "",
            r#"Bearer realm="https://r/token",service="s""#,
        ];
        assert_eq!(
            parse_challenges(headers),
            [
                basic(Some("registry")),
                bearer("https://r/token", Some("s"), None)
            ]
        );
        assert_eq!(parse_challenges(Vec::<&str>::new()), []);
    }

    #[test]
    fn garbage_gives_what_can_be_read_and_never_panics() {
        let cases: &[(&str, Vec<Challenge>)] = &[
            ("", vec![]),
            ("   ", vec![]),
            (",,,", vec![]),
            ("=", vec![]),
            ("===", vec![]),
            ("\"", vec![]),
            (r#""quoted" Basic"#, vec![basic(None)]),
            ("realm=x", vec![]),
            ("realm=x, Basic realm=y", vec![basic(Some("y"))]),
            ("Bearer realm=", vec![bearer("", None, None)]),
            ("Bearer realm=,service=s", vec![bearer("", Some("s"), None)]),
            (r#"Bearer realm="x\"#, vec![bearer("x", None, None)]),
            (
                "Bearer ,,, realm",
                vec![bearer("", None, None), other("realm")],
            ),
            ("Bearer realm==x", vec![bearer("", None, None), other("x")]),
            ("(Basic)", vec![basic(None)]),
            ("Basic realm=\"a\"\"b\"", vec![basic(Some("a"))]),
            ("\u{0}Basic\u{7f}", vec![basic(None)]),
            ("ü", vec![]),
            // `r` is read as a token68, `é` skipped, and `alm=ü` kept as an unknown parameter.
            ("Bearer réalm=ü", vec![bearer("", None, None)]),
        ];
        for (header, expected) in cases {
            assert_parses(header, expected);
        }
    }

    /// A small deterministic generator, so the fuzz-style tests need no extra crate and
    /// fail the same way every run.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    #[test]
    fn odd_inputs_never_panic() {
        let fragments = [
            "Bearer",
            "Basic",
            "bearer",
            "realm",
            "=",
            "==",
            "\"",
            "\\",
            ",",
            " ",
            "\t",
            "\r\n",
            "\"x,y\"",
            "\"\\\"\"",
            "scope",
            "error",
            "token68/+=",
            "ü",
            "\u{0}",
            "(",
            ")",
            ";",
            "https://r/token",
            ":",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let length = rng.below(12);
            let header: String = (0..length).map(|_| rng.pick(&fragments)).collect();
            let challenges = parse_challenges([header.as_str()]);
            // Every challenge starts at a token, so there cannot be more challenges than runs
            // of token characters.
            let tokens = header.split(|c| !is_tchar(c)).filter(|run| !run.is_empty());
            assert!(challenges.len() <= tokens.count(), "header: {header:?}");
            let _ = preferred(&challenges);
            let _ = parse_scopes(&header);
        }
    }

    /// Quotes `value` as a quoted-string, escaping `"` and `\`.
    fn quote(value: &str) -> String {
        let mut quoted = String::from("\"");
        for c in value.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        quoted
    }

    #[test]
    fn well_formed_headers_read_back_what_was_written() {
        let values = [
            "https://auth.example.com/token",
            "a,b",
            "say \"hi\"",
            "back\\slash",
            "",
            "repository:a:pull registry:catalog:*",
            "plain",
        ];
        let mut rng = XorShift(0x0123_4567_89AB_CDEF);
        for _ in 0..5_000 {
            let mut expected = Vec::new();
            let mut parts = Vec::new();
            for _ in 0..=rng.below(3) {
                let realm = rng.pick(&values);
                let mut params = vec![format!("realm={}", quote(realm))];
                let service = (rng.below(2) == 0).then(|| rng.pick(&values));
                if let Some(service) = service {
                    params.push(format!("Service = {}", quote(service)));
                }
                let scope = (rng.below(2) == 0).then(|| rng.pick(&values));
                if let Some(scope) = scope {
                    params.push(format!("scope={}", quote(scope)));
                }
                if rng.below(2) == 0 {
                    parts.push(format!("Bearer {}", params.join(",")));
                    expected.push(Challenge::Bearer(BearerChallenge {
                        realm: realm.to_owned(),
                        service: service.map(str::to_owned),
                        scope: scope.map(str::to_owned),
                        error: None,
                    }));
                } else {
                    parts.push(format!("basic {}", params.join(", ")));
                    expected.push(basic(Some(realm)));
                }
            }
            let header = parts.join(", ");
            assert_eq!(parse_challenges([header.as_str()]), expected, "{header}");
        }
    }

    #[test]
    fn preferred_takes_bearer_then_basic() {
        let with_realm = bearer("https://r/token", None, None);
        let without_realm = bearer("", None, None);
        let cases: &[(Vec<Challenge>, Option<Challenge>)] = &[
            (vec![], None),
            (vec![other("Negotiate")], None),
            (
                vec![basic(Some("b")), with_realm.clone()],
                Some(with_realm.clone()),
            ),
            (
                vec![with_realm.clone(), basic(Some("b"))],
                Some(with_realm.clone()),
            ),
            (vec![other("Negotiate"), basic(None)], Some(basic(None))),
            (
                vec![without_realm.clone(), basic(Some("b"))],
                Some(basic(Some("b"))),
            ),
            (vec![without_realm.clone()], Some(without_realm.clone())),
        ];
        for (challenges, expected) in cases {
            assert_eq!(preferred(challenges), expected.as_ref(), "{challenges:?}");
        }
    }

    #[test]
    fn token_errors() {
        let cases = [
            (None, None),
            (Some("invalid_token"), Some(TokenError::InvalidToken)),
            (
                Some("insufficient_scope"),
                Some(TokenError::InsufficientScope),
            ),
            (Some("INVALID_TOKEN"), Some(TokenError::InvalidToken)),
            (
                Some("invalid_request"),
                Some(TokenError::Other("invalid_request".to_owned())),
            ),
        ];
        for (error, expected) in cases {
            let challenge = BearerChallenge {
                realm: "r".to_owned(),
                service: None,
                scope: None,
                error: error.map(str::to_owned),
            };
            assert_eq!(challenge.token_error(), expected, "{error:?}");
        }
        let parsed = parse_challenges([r#"Bearer realm="r",error="invalid_token""#]);
        let [Challenge::Bearer(bearer)] = parsed.as_slice() else {
            panic!("expected one Bearer challenge, got {parsed:?}");
        };
        assert_eq!(bearer.token_error(), Some(TokenError::InvalidToken));
    }

    #[test]
    fn pull_scopes() {
        assert_eq!(pull_scope("library/nginx"), "repository:library/nginx:pull");
        assert_eq!(
            pull_scope("localhost:5000/app"),
            "repository:localhost:5000/app:pull"
        );
        let scope: Scope = pull_scope("localhost:5000/app").parse().unwrap();
        assert_eq!(scope.name(), "localhost:5000/app");
        assert!(scope.allows("pull"));
        assert!(!scope.allows("push"));
    }

    #[test]
    fn scopes_parse_and_print_back() {
        // (scope, type, class, name, actions)
        type ScopeCase = (
            &'static str,
            &'static str,
            Option<&'static str>,
            &'static str,
            &'static [&'static str],
        );
        let cases: &[ScopeCase] = &[
            (
                "repository:library/nginx:pull",
                "repository",
                None,
                "library/nginx",
                &["pull"],
            ),
            (
                "repository:owner/image:pull,push",
                "repository",
                None,
                "owner/image",
                &["pull", "push"],
            ),
            ("registry:catalog:*", "registry", None, "catalog", &["*"]),
            (
                "repository:localhost:5000/app:pull",
                "repository",
                None,
                "localhost:5000/app",
                &["pull"],
            ),
            (
                "repository(plugin):vieux/sshfs:pull",
                "repository",
                Some("plugin"),
                "vieux/sshfs",
                &["pull"],
            ),
            (
                "repository:a:b:c:delete",
                "repository",
                None,
                "a:b:c",
                &["delete"],
            ),
        ];
        for &(text, resource_type, class, name, actions) in cases {
            let scope: Scope = text.parse().unwrap();
            assert_eq!(scope.resource_type(), resource_type, "{text}");
            assert_eq!(scope.class(), class, "{text}");
            assert_eq!(scope.name(), name, "{text}");
            assert_eq!(scope.actions(), actions, "{text}");
            assert_eq!(scope.to_string(), text);
        }
        assert!(
            "registry:catalog:*"
                .parse::<Scope>()
                .unwrap()
                .allows("push")
        );
    }

    #[test]
    fn several_scopes() {
        let scopes = parse_scopes(" repository:a:pull  registry:catalog:*\t").unwrap();
        let printed: Vec<String> = scopes.iter().map(Scope::to_string).collect();
        assert_eq!(printed, ["repository:a:pull", "registry:catalog:*"]);
        assert_eq!(parse_scopes("").unwrap(), []);
        assert_eq!(
            parse_scopes("repository:a:pull aws").unwrap_err().scope(),
            "aws"
        );
    }

    #[test]
    fn bad_scopes_say_what_is_wrong() {
        let cases = [
            (
                "aws",
                "scope 'aws' is not 'type:name:actions'; expected something like \
                 'repository:library/nginx:pull'",
            ),
            (
                "repository:nginx",
                "scope 'repository:nginx' is not 'type:name:actions'; expected something like \
                 'repository:library/nginx:pull'",
            ),
            (
                "repository::pull",
                "scope 'repository::pull' has an empty resource name or one with spaces",
            ),
            (
                "repository:a:",
                "scope 'repository:a:' has no actions after the last ':'",
            ),
            (
                "repository:a:pull,,push",
                "scope 'repository:a:pull,,push' has an empty action; separate actions with \
                 single commas",
            ),
            (
                ":a:pull",
                "scope ':a:pull' has a resource type that is not letters and digits",
            ),
            (
                "repo-sitory:a:pull",
                "scope 'repo-sitory:a:pull' has a resource type that is not letters and digits",
            ),
            (
                "repository(plugin:a:pull",
                "scope 'repository(plugin:a:pull' has a resource class without its closing ')'",
            ),
            (
                "repository():a:pull",
                "scope 'repository():a:pull' has a resource class that is not letters and digits",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                text.parse::<Scope>().unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }
}
