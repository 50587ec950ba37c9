//! `WWW-Authenticate` parsing, as a registry's 401 gives it: no panic, a result no larger
//! than the input, every challenge written back as a header parses to itself, and every
//! scope a Bearer challenge names prints back as the same scope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upkeep_registry_clients::challenge::{self, Challenge, Scope};

fuzz_target!(|input: &str| {
    // One header per line, as a response with several `WWW-Authenticate` headers.
    let challenges = challenge::parse_challenges(input.lines());
    assert!(challenges.len() <= input.len());
    if let Some(preferred) = challenge::preferred(&challenges) {
        assert!(challenges.contains(preferred));
    }
    for parsed in &challenges {
        for value in texts(parsed) {
            assert!(
                value.len() <= input.len(),
                "{value:?} longer than the input"
            );
        }
        let header = write_header(parsed);
        let again = challenge::parse_challenges([header.as_str()]);
        assert_eq!(again, std::slice::from_ref(parsed), "{header}");
        if let Challenge::Bearer(bearer) = parsed
            && let Some(scope) = &bearer.scope
            && let Ok(scopes) = challenge::parse_scopes(scope)
        {
            for scope in scopes {
                let text = scope.to_string();
                assert_eq!(text.parse::<Scope>().as_ref(), Ok(&scope), "{text}");
            }
        }
    }
});

fn texts(challenge: &Challenge) -> Vec<&str> {
    match challenge {
        Challenge::Bearer(bearer) => [
            Some(bearer.realm.as_str()),
            bearer.service.as_deref(),
            bearer.scope.as_deref(),
            bearer.error.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Challenge::Basic { realm } => realm.as_deref().into_iter().collect(),
        Challenge::Other { scheme } => vec![scheme.as_str()],
        _ => Vec::new(),
    }
}

/// The challenge as a registry would write it, every value quoted.
fn write_header(challenge: &Challenge) -> String {
    let quoted = |value: &str| {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    };
    match challenge {
        Challenge::Bearer(bearer) => {
            let mut params = vec![format!("realm={}", quoted(&bearer.realm))];
            for (name, value) in [
                ("service", &bearer.service),
                ("scope", &bearer.scope),
                ("error", &bearer.error),
            ] {
                if let Some(value) = value {
                    params.push(format!("{name}={}", quoted(value)));
                }
            }
            format!("Bearer {}", params.join(","))
        }
        Challenge::Basic { realm: Some(realm) } => format!("Basic realm={}", quoted(realm)),
        Challenge::Basic { realm: None } => "Basic".to_owned(),
        Challenge::Other { scheme } => scheme.clone(),
        _ => String::new(),
    }
}
