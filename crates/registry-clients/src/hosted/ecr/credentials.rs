//! Where the AWS credentials that sign ECR's API calls come from: the environment
//! variables and the shared `credentials` and `config` files, as AWS's own tools read them.
//!
//! It reads files but never the network: the credential sources that need it (SSO, assumed
//! roles, credential processes, web identity, instance metadata) are refused with a message
//! saying how to export static credentials instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::ErrorKind;

/// AWS credentials for signing: an access key, and a session token for temporary ones.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// The access key id (`AKIA…`, or `ASIA…` for temporary credentials).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials, sent as `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where the AWS credential chain looks: environment variables and the two shared files.
/// Gathered at the edge ([`from_process`](Self::from_process)) or built by hand (tests), so
/// nothing below depends on the real environment.
#[derive(Clone, Default)]
pub struct AwsSources {
    /// Environment variables; only the `AWS_*` ones are read.
    pub variables: BTreeMap<String, String>,
    /// The shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/credentials`), if there is a path for it.
    pub credentials_file: Option<PathBuf>,
    /// The shared config file (`AWS_CONFIG_FILE`, else `~/.aws/config`), if there is a path
    /// for it.
    pub config_file: Option<PathBuf>,
}

impl std::fmt::Debug for AwsSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The variables hold the secret key; their names are enough to debug with.
        f.debug_struct("AwsSources")
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .field("credentials_file", &self.credentials_file)
            .field("config_file", &self.config_file)
            .finish()
    }
}

/// Why AWS credentials or settings could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsConfigError {
    /// Neither the environment nor the shared files hold credentials for the profile.
    #[error(
        "no AWS credentials for profile '{profile}': set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or add the profile with aws_access_key_id and \
         aws_secret_access_key to {credentials_file}"
    )]
    NoCredentials {
        /// The profile looked for.
        profile: String,
        /// The credentials file looked in, or a note that there was none.
        credentials_file: String,
    },
    /// One of the two key variables is set without the other.
    #[error("{present} is set but {missing} is not; set both, or neither to use the shared files")]
    PartialEnvironment {
        /// The variable that is set.
        present: &'static str,
        /// The variable that is missing.
        missing: &'static str,
    },
    /// A profile has one of the two keys without the other.
    #[error("profile '{profile}' in {path} has no {missing}; add it")]
    PartialProfile {
        /// The profile.
        profile: String,
        /// The file it is in.
        path: String,
        /// The missing key.
        missing: &'static str,
    },
    /// A profile gets its credentials in a way that needs the network or another program.
    #[error(
        "profile '{profile}' in {path} gets its credentials through '{key}', which upkeep \
         cannot use; export static credentials instead (`aws configure export-credentials \
         --format env`)"
    )]
    UnsupportedProfile {
        /// The profile.
        profile: String,
        /// The file it is in.
        path: String,
        /// The key that names the unsupported source.
        key: &'static str,
    },
    /// A shared file exists but could not be read.
    #[error("cannot read {path}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl From<AwsConfigError> for ErrorKind {
    fn from(error: AwsConfigError) -> Self {
        // `Credentials` keeps a text only, so the IO cause joins the message here.
        let reason = match &error {
            AwsConfigError::Unreadable { source, .. } => format!("{error}: {source}"),
            _ => error.to_string(),
        };
        Self::Credentials { reason }
    }
}

/// Profile keys that name a credential source this module cannot use offline.
const UNSUPPORTED_PROFILE_KEYS: [&str; 6] = [
    "role_arn",
    "sso_session",
    "sso_start_url",
    "credential_process",
    "web_identity_token_file",
    "credential_source",
];

impl AwsSources {
    /// Sources from `variables`, with the shared files at `AWS_SHARED_CREDENTIALS_FILE` and
    /// `AWS_CONFIG_FILE` when set, else under `home/.aws/`.
    pub fn new(variables: BTreeMap<String, String>, home: Option<&Path>) -> Self {
        let file = |variable: &str, name: &str| {
            non_empty(&variables, variable)
                .map(PathBuf::from)
                .or_else(|| home.map(|home| home.join(".aws").join(name)))
        };
        Self {
            credentials_file: file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            config_file: file("AWS_CONFIG_FILE", "config"),
            variables,
        }
    }

    /// Sources from this process's environment (`AWS_*` variables, `HOME`, or
    /// `USERPROFILE` on Windows).
    pub fn from_process() -> Self {
        let variables = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| name.starts_with("AWS_"))
            .collect();
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(PathBuf::from);
        Self::new(variables, home.as_deref())
    }

    /// The profile to read: `AWS_PROFILE`, else `default`.
    pub fn profile(&self) -> &str {
        non_empty(&self.variables, "AWS_PROFILE").unwrap_or("default")
    }

    /// The credentials, from the first source that has them: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; then the profile's
    /// `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token` in the
    /// credentials file; then the same keys in the config file. The environment wins over
    /// `AWS_PROFILE`, as in AWS's own SDKs.
    pub fn credentials(&self) -> Result<AwsCredentials, AwsConfigError> {
        let id = non_empty(&self.variables, "AWS_ACCESS_KEY_ID");
        let secret = non_empty(&self.variables, "AWS_SECRET_ACCESS_KEY");
        match (id, secret) {
            (Some(id), Some(secret)) => {
                return Ok(AwsCredentials {
                    access_key_id: id.to_owned(),
                    secret_access_key: secret.to_owned(),
                    session_token: non_empty(&self.variables, "AWS_SESSION_TOKEN")
                        .map(str::to_owned),
                });
            }
            (Some(_), None) => {
                return Err(AwsConfigError::PartialEnvironment {
                    present: "AWS_ACCESS_KEY_ID",
                    missing: "AWS_SECRET_ACCESS_KEY",
                });
            }
            (None, Some(_)) => {
                return Err(AwsConfigError::PartialEnvironment {
                    present: "AWS_SECRET_ACCESS_KEY",
                    missing: "AWS_ACCESS_KEY_ID",
                });
            }
            (None, None) => {}
        }
        let profile = self.profile();
        let files = [
            (self.credentials_file.as_deref(), false),
            (self.config_file.as_deref(), true),
        ];
        let mut unsupported = None;
        for (path, is_config) in files {
            let Some(path) = path else { continue };
            let Some(text) = read_optional(path)? else {
                continue;
            };
            let Some(section) = profile_section(&text, profile, is_config) else {
                continue;
            };
            if let Some(credentials) = section_credentials(&section, profile, path)? {
                return Ok(credentials);
            }
            if unsupported.is_none()
                && let Some(key) = UNSUPPORTED_PROFILE_KEYS
                    .into_iter()
                    .find(|key| section.contains_key(*key))
            {
                unsupported = Some(AwsConfigError::UnsupportedProfile {
                    profile: profile.to_owned(),
                    path: path.display().to_string(),
                    key,
                });
            }
        }
        Err(
            unsupported.unwrap_or_else(|| AwsConfigError::NoCredentials {
                profile: profile.to_owned(),
                credentials_file: self.credentials_file.as_ref().map_or_else(
                    || "~/.aws/credentials (no home directory found)".to_owned(),
                    |path| path.display().to_string(),
                ),
            }),
        )
    }

    /// The default region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's
    /// `region` in the config file; `None` when none is set. ECR takes the region from the
    /// registry host instead ([`EcrHost`](super::EcrHost)).
    pub fn region(&self) -> Result<Option<String>, AwsConfigError> {
        if let Some(region) = non_empty(&self.variables, "AWS_REGION")
            .or_else(|| non_empty(&self.variables, "AWS_DEFAULT_REGION"))
        {
            return Ok(Some(region.to_owned()));
        }
        let Some(path) = self.config_file.as_deref() else {
            return Ok(None);
        };
        let Some(text) = read_optional(path)? else {
            return Ok(None);
        };
        Ok(profile_section(&text, self.profile(), true)
            .and_then(|mut section| section.remove("region"))
            .filter(|region| !region.is_empty()))
    }
}

/// A variable's value, if set and not empty (AWS tools treat empty as unset).
fn non_empty<'a>(variables: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    variables
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
}

/// A file's text; `None` when it does not exist, which is normal for the shared files.
fn read_optional(path: &Path) -> Result<Option<String>, AwsConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AwsConfigError::Unreadable {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The keys (lower case) of a profile's section in an AWS ini file. The credentials file
/// names sections `[name]`; the config file `[profile name]`, and `[default]` for the
/// default profile. Indented lines are sub-properties or continuations (as in Python's
/// configparser, which the AWS CLI uses) and are skipped.
fn profile_section(text: &str, profile: &str, is_config: bool) -> Option<BTreeMap<String, String>> {
    let wanted = |name: &str| {
        let words: Vec<&str> = name.split_whitespace().collect();
        match (is_config, words.as_slice()) {
            (false, [only]) => *only == profile,
            (true, ["profile", only]) => *only == profile,
            (true, [only]) => *only == "default" && profile == "default",
            _ => false,
        }
    };
    let mut section = None::<BTreeMap<String, String>>;
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            inside = wanted(name);
            if inside && section.is_none() {
                section = Some(BTreeMap::new());
            }
            continue;
        }
        if inside
            && let Some((key, value)) = line.split_once('=')
            && let Some(section) = section.as_mut()
        {
            section.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    section
}

fn section_credentials(
    section: &BTreeMap<String, String>,
    profile: &str,
    path: &Path,
) -> Result<Option<AwsCredentials>, AwsConfigError> {
    let value = |key: &str| {
        section
            .get(key)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    };
    let partial = |missing| AwsConfigError::PartialProfile {
        profile: profile.to_owned(),
        path: path.display().to_string(),
        missing,
    };
    match (value("aws_access_key_id"), value("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some(AwsCredentials {
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: value("aws_session_token").map(str::to_owned),
        })),
        (Some(_), None) => Err(partial("aws_secret_access_key")),
        (None, Some(_)) => Err(partial("aws_access_key_id")),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::super::EcrCredentials;
    use super::super::fixtures::time;
    use super::*;

    /// A directory under the system's temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "upkeep-ecr-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(path.join(".aws")).unwrap();
            Self(path)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(".aws").join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn variables(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn keys(id: &str, secret: &str, token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: token.map(str::to_owned),
        }
    }

    const CREDENTIALS_FILE: &str = "\
# comment
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = default-secret

[ci]
AWS_ACCESS_KEY_ID=ASIACI
aws_secret_access_key=ci-secret
aws_session_token = ci-token
; another comment

[half]
aws_access_key_id = AKIAHALF
";

    const CONFIG_FILE: &str = "\
[default]
region = eu-west-1
s3 =
  region = not-this-one

[profile ci]
region = us-west-2

[profile fromconfig]
aws_access_key_id = AKIACONFIG
aws_secret_access_key = config-secret

[profile sso]
sso_session = corp
sso_account_id = 123456789012
";

    #[test]
    fn the_credential_chain() {
        let home = TempDir::new();
        home.write("credentials", CREDENTIALS_FILE);
        home.write("config", CONFIG_FILE);
        let sources = |pairs: &[(&str, &str)]| AwsSources::new(variables(pairs), Some(&home.0));
        let cases: [(&[(&str, &str)], AwsCredentials); 5] = [
            (&[], keys("AKIADEFAULT", "default-secret", None)),
            (
                &[("AWS_PROFILE", "ci")],
                keys("ASIACI", "ci-secret", Some("ci-token")),
            ),
            (
                &[("AWS_PROFILE", "fromconfig")],
                keys("AKIACONFIG", "config-secret", None),
            ),
            // The environment wins over the profile, as in AWS's SDKs.
            (
                &[
                    ("AWS_PROFILE", "ci"),
                    ("AWS_ACCESS_KEY_ID", "AKIAENV"),
                    ("AWS_SECRET_ACCESS_KEY", "env-secret"),
                    ("AWS_SESSION_TOKEN", "env-token"),
                ],
                keys("AKIAENV", "env-secret", Some("env-token")),
            ),
            // Empty variables count as unset.
            (
                &[
                    ("AWS_ACCESS_KEY_ID", ""),
                    ("AWS_SECRET_ACCESS_KEY", " "),
                    ("AWS_PROFILE", ""),
                ],
                keys("AKIADEFAULT", "default-secret", None),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(sources(pairs).credentials().unwrap(), expected, "{pairs:?}");
        }

        let credentials_path = home
            .0
            .join(".aws")
            .join("credentials")
            .display()
            .to_string();
        let config_path = home.0.join(".aws").join("config").display().to_string();
        let failures: [(&[(&str, &str)], String); 4] = [
            (
                &[("AWS_ACCESS_KEY_ID", "AKIAENV")],
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or \
                 neither to use the shared files"
                    .to_owned(),
            ),
            (
                &[("AWS_PROFILE", "half")],
                format!(
                    "profile 'half' in {credentials_path} has no aws_secret_access_key; add it"
                ),
            ),
            (
                &[("AWS_PROFILE", "sso")],
                format!(
                    "profile 'sso' in {config_path} gets its credentials through 'sso_session', \
                     which upkeep cannot use; export static credentials instead (`aws configure \
                     export-credentials --format env`)"
                ),
            ),
            (
                &[("AWS_PROFILE", "nobody")],
                format!(
                    "no AWS credentials for profile 'nobody': set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY, or add the profile with aws_access_key_id and \
                     aws_secret_access_key to {credentials_path}"
                ),
            ),
        ];
        for (pairs, expected) in failures {
            assert_eq!(
                sources(pairs).credentials().unwrap_err().to_string(),
                expected,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn file_locations_come_from_the_environment_or_home() {
        let home = TempDir::new();
        let elsewhere = home.write(
            "elsewhere",
            "[default]\naws_access_key_id=AKIAX\naws_secret_access_key=x\n",
        );
        let sources = AwsSources::new(
            variables(&[("AWS_SHARED_CREDENTIALS_FILE", elsewhere.to_str().unwrap())]),
            Some(&home.0),
        );
        assert_eq!(
            sources.credentials_file.as_deref(),
            Some(elsewhere.as_path())
        );
        assert_eq!(
            sources.config_file,
            Some(home.0.join(".aws").join("config"))
        );
        assert_eq!(sources.credentials().unwrap(), keys("AKIAX", "x", None));

        let homeless = AwsSources::new(variables(&[]), None);
        assert_eq!(homeless.credentials_file, None);
        assert_eq!(
            homeless.credentials().unwrap_err().to_string(),
            "no AWS credentials for profile 'default': set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or add the profile with aws_access_key_id and \
             aws_secret_access_key to ~/.aws/credentials (no home directory found)"
        );
        assert_eq!(homeless.region().unwrap(), None);
    }

    #[test]
    fn regions() {
        let home = TempDir::new();
        home.write("config", CONFIG_FILE);
        let region = |pairs: &[(&str, &str)]| {
            AwsSources::new(variables(pairs), Some(&home.0))
                .region()
                .unwrap()
        };
        assert_eq!(region(&[]), Some("eu-west-1".to_owned()));
        assert_eq!(
            region(&[("AWS_PROFILE", "ci")]),
            Some("us-west-2".to_owned())
        );
        assert_eq!(region(&[("AWS_PROFILE", "fromconfig")]), None);
        assert_eq!(
            region(&[("AWS_DEFAULT_REGION", "ap-south-1"), ("AWS_PROFILE", "ci")]),
            Some("ap-south-1".to_owned())
        );
        assert_eq!(
            region(&[
                ("AWS_REGION", "sa-east-1"),
                ("AWS_DEFAULT_REGION", "ap-south-1")
            ]),
            Some("sa-east-1".to_owned())
        );
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let home = TempDir::new();
        // A directory where the file should be cannot be read as one.
        std::fs::create_dir_all(home.0.join(".aws").join("credentials")).unwrap();
        let error = AwsSources::new(variables(&[]), Some(&home.0))
            .credentials()
            .unwrap_err();
        let path = home
            .0
            .join(".aws")
            .join("credentials")
            .display()
            .to_string();
        assert_eq!(error.to_string(), format!("cannot read {path}"));
        let ErrorKind::Credentials { reason } = ErrorKind::from(error) else {
            panic!("expected a credentials error");
        };
        assert!(
            reason.starts_with(&format!("cannot read {path}: ")),
            "{reason}"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let credentials = keys("AKIAID", "very-secret", Some("session-secret"));
        let ecr = EcrCredentials {
            user: "AWS".to_owned(),
            password: "registry-secret".to_owned(),
            expires_at: time("2025-01-01T12:00:00Z"),
        };
        let sources = AwsSources::new(variables(&[("AWS_SECRET_ACCESS_KEY", "env-secret")]), None);
        let printed = format!("{credentials:?} {ecr:?} {sources:?}");
        for secret in [
            "very-secret",
            "session-secret",
            "registry-secret",
            "env-secret",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("AKIAID") && printed.contains("AWS_SECRET_ACCESS_KEY"));
    }
}
