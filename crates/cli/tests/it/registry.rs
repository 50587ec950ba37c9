//! `upkeep tags` and `upkeep check` against a real registry on loopback (plain HTTP, no
//! flags), with and without credentials.

use insta::assert_snapshot;
use upkeep_test_registry::{self as support, APP, Auth, PASSWORD, USER};

use crate::{upkeep, upkeep_with_env};

/// Replaces the registry's random port with `[PORT]`.
fn redact(text: &str, host: &str) -> String {
    text.replace(host, "127.0.0.1:[PORT]")
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_lists_versions_newest_first_with_their_family() {
    let Some((registry, images)) = support::filled_registry(Auth::None).await else {
        return;
    };
    let image = format!("{}/{APP}", registry.host());
    let run = tokio::task::spawn_blocking(move || upkeep(&["tags", &image], ""))
        .await
        .unwrap();
    assert_eq!(run.code, 0, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    // Every version tag, names left out without --all.
    assert_eq!(lines.len(), images.app.tag_names().len() - 2);
    assert_snapshot!(lines[..6].join("\n"), @r"
    2.0.0-rc1      x.y.z (pre-release)
    2.0.0-beta.2   x.y.z (pre-release)
    2.0.0-alpha.1  x.y.z (pre-release)
    1.9.12         x.y.z
    1.9.12-alpine  x.y.z-alpine
    1.9.11         x.y.z
    ");
    let image = format!("{}/{APP}", registry.host());
    let all = tokio::task::spawn_blocking(move || upkeep(&["tags", &image, "--all", "--json"], ""))
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    let entries = parsed.as_array().unwrap();
    assert_eq!(entries.len(), images.app.tag_names().len());
    let last_two: Vec<&str> = entries[entries.len() - 2..]
        .iter()
        .map(|entry| entry["tag"].as_str().unwrap())
        .collect();
    let mut last_two = last_two;
    last_two.sort_unstable();
    assert_eq!(last_two, ["latest", "sha-3f2a9c1"]);
    assert_eq!(entries[0]["family"], "x.y.z");
    assert_eq!(entries[0]["prerelease"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_the_update_with_digests() {
    let Some((registry, images)) = support::filled_registry(Auth::basic()).await else {
        return;
    };
    let host = registry.host();
    // UPKEEP_AUTH_<HOST> with every other character as `_`.
    let variable = format!(
        "UPKEEP_AUTH_{}",
        host.chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            })
            .collect::<String>()
    );
    let secret = format!("{USER}:{PASSWORD}");
    let image = format!("{host}/{APP}:1.2.3");
    let (image_arg, variable_arg, secret_arg) = (image.clone(), variable.clone(), secret.clone());
    let run = tokio::task::spawn_blocking(move || {
        upkeep_with_env(
            &["check", &image_arg, "--json"],
            "",
            &[(variable_arg.as_str(), secret_arg.as_str())],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.code, 0, "{run}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["current_digest"],
        images.app.digest("1.2.3").to_string()
    );
    assert_eq!(
        report["latest_digest"],
        images.app.digest("1.9.12").to_string()
    );
    let mut redacted = report.clone();
    redacted["current_digest"] = "[DIGEST]".into();
    redacted["latest_digest"] = "[DIGEST]".into();
    assert_snapshot!(redact(&serde_json::to_string_pretty(&redacted).unwrap(), &host), @r#"
    {
      "current": "1.2.3",
      "current_digest": "[DIGEST]",
      "image": "127.0.0.1:[PORT]/test/app",
      "latest": "1.9.12",
      "latest_digest": "[DIGEST]",
      "newest_any": "2.0.0-rc1",
      "update": "minor"
    }
    "#);

    // Without the credentials: one clear line, exit 2.
    let run = tokio::task::spawn_blocking(move || upkeep(&["check", &image], ""))
        .await
        .unwrap();
    assert_eq!(run.code, 2);
    assert_snapshot!(redact(&run.stderr, &host), @r"
    error: authentication failed (UNAUTHORIZED): authentication required, from 127.0.0.1:[PORT] for repository 'test/app'
    ");
}
