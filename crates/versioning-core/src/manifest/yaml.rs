//! The manifest's file format (see the [module documentation](super#file-format-version-1)):
//! reading YAML into a checked [`Manifest`], with messages that name the field and the fix and
//! [`Warning`]s for unknown keys, and writing it back.
//!
//! Reading has two phases: the first turns YAML into raw text fields, keeping unknown and
//! repeated keys; the second checks them and builds the model, with errors naming the path.
//! Text in, text out: reading and writing files belongs to the engine.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Utc;
use serde::Serialize;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::error::{ErrorKind, ManifestError, format_time, invalid, quoted};
use super::model::{
    HistoryEntry, Manifest, REASONS, Reason, Revision, ServiceName, ServiceVersion, digest_problem,
    image_problem, note_problem, service_name_problem, tag_problem,
};
use super::{FORMAT_VERSION, MAX_HISTORY};

const TOP_KEYS: &[&str] = &["version", "services"];
const SERVICE_KEYS: &[&str] = &["image", "current_tag", "image_digest", "custom", "history"];
const ENTRY_KEYS: &[&str] = &[
    "tag",
    "digest",
    "deployed_at",
    "reason",
    "failed",
    "failed_digest",
    "note",
];

impl Manifest {
    /// Reads a manifest, checking the [invariants](super#invariants). Unknown keys are returned
    /// as warnings, in document order; anything else wrong is an error naming the field.
    pub fn from_yaml(text: &str) -> Result<(Self, Vec<Warning>), ManifestError> {
        let raw: Option<RawManifest> = yaml_serde::from_str(text)
            .map_err(|error| ManifestError::from(ErrorKind::Yaml(error.to_string())))?;
        let raw = raw.ok_or(ManifestError::from(ErrorKind::Empty))?;
        let mut warnings = Vec::new();
        let manifest = build_manifest(raw, &mut warnings)?;
        Ok((manifest, warnings))
    }

    /// Writes the manifest as YAML, in the format described in the [module
    /// documentation](super); [`from_yaml`](Self::from_yaml) reads it back to an equal manifest.
    pub fn to_yaml(&self) -> String {
        let out = ManifestOut {
            version: FORMAT_VERSION,
            services: self
                .services
                .iter()
                .map(|(name, version)| (name.as_str(), ServiceOut::from(version)))
                .collect(),
        };
        match yaml_serde::to_string(&out) {
            Ok(text) => text,
            // The serializer fails only on non-string map keys, bytes, nested enums or IO
            // errors of the writer; none of them can occur with these structs and a String.
            Err(error) => unreachable!("serializing the manifest cannot fail: {error}"),
        }
    }
}

/// Something in a read manifest that was tolerated but deserves a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    kind: WarningKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum WarningKind {
    /// A key this version does not know; `path` is empty at the top level.
    UnknownKey {
        path: String,
        key: String,
        suggestion: Option<&'static str>,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            WarningKind::UnknownKey {
                path,
                key,
                suggestion,
            } => {
                write!(
                    f,
                    "unknown key {} {}; it is ignored",
                    quoted(key),
                    location(path)
                )?;
                if let Some(suggestion) = suggestion {
                    write!(f, " (did you mean '{suggestion}'?)")?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A scalar as written: `deserialize_str` hands over the source text, so `1.40` stays `1.40`.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Text, E> {
                Ok(Text(value.to_owned()))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Keys of one mapping that are not fields, and fields given twice.
#[derive(Default)]
struct Keys {
    unknown: Vec<String>,
    repeated: Vec<String>,
}

/// Field slots: `None` when the key is absent, `Some(None)` when its value is null.
type Slot<T> = Option<Option<T>>;

fn put<T>(slot: &mut Slot<T>, value: Option<T>, key: String, keys: &mut Keys) {
    if slot.is_some() {
        keys.repeated.push(key);
    } else {
        *slot = Some(value);
    }
}

#[derive(Default)]
struct RawManifest {
    version: Slot<Text>,
    services: Slot<RawServices>,
    keys: Keys,
}

#[derive(Default)]
struct RawServices {
    entries: Vec<(String, RawService)>,
}

#[derive(Default)]
struct RawService {
    image: Slot<Text>,
    current_tag: Slot<Text>,
    image_digest: Slot<Text>,
    custom: Slot<Text>,
    history: Slot<Vec<RawEntry>>,
    keys: Keys,
}

#[derive(Default)]
struct RawEntry {
    tag: Slot<Text>,
    digest: Slot<Text>,
    deployed_at: Slot<Text>,
    reason: Slot<Text>,
    failed: Slot<Text>,
    failed_digest: Slot<Text>,
    note: Slot<Text>,
    keys: Keys,
}

/// Implements `Deserialize` for a raw mapping: each listed key fills its slot, any other key
/// is skipped and remembered.
macro_rules! raw_mapping {
    ($raw:ident, $expecting:literal, { $($field:ident),* }) => {
        impl<'de> Deserialize<'de> for $raw {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct RawVisitor;
                impl<'de> Visitor<'de> for RawVisitor {
                    type Value = $raw;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$raw, A::Error> {
                        let mut raw = $raw::default();
                        while let Some(Text(key)) = map.next_key()? {
                            match key.as_str() {
                                $(stringify!($field) => {
                                    let value = map.next_value()?;
                                    put(&mut raw.$field, value, key, &mut raw.keys);
                                })*
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                    raw.keys.unknown.push(key);
                                }
                            }
                        }
                        Ok(raw)
                    }
                }
                deserializer.deserialize_map(RawVisitor)
            }
        }
    };
}

raw_mapping!(RawManifest, "the manifest: a mapping with 'version' and 'services'", {
    version, services
});
raw_mapping!(
    RawService,
    "a service: a mapping with 'image', 'current_tag' and 'history'",
    { image, current_tag, image_digest, custom, history }
);
raw_mapping!(
    RawEntry,
    "a history entry: a mapping with 'tag', 'deployed_at' and 'reason'",
    { tag, digest, deployed_at, reason, failed, failed_digest, note }
);

impl<'de> Deserialize<'de> for RawServices {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ServicesVisitor;
        impl<'de> Visitor<'de> for ServicesVisitor {
            type Value = RawServices;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping from service names to services")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawServices, A::Error> {
                let mut entries = Vec::new();
                while let Some((Text(name), service)) = map.next_entry()? {
                    entries.push((name, service));
                }
                Ok(RawServices { entries })
            }
        }
        deserializer.deserialize_map(ServicesVisitor)
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn location(path: &str) -> String {
    if path.is_empty() {
        "at top level".to_owned()
    } else {
        format!("at {path}")
    }
}

/// Warns about unknown keys and rejects repeated ones.
fn check_keys(
    path: &str,
    keys: &Keys,
    known: &'static [&'static str],
    warnings: &mut Vec<Warning>,
) -> Result<(), ManifestError> {
    if let Some(key) = keys.repeated.first() {
        return Err(invalid(
            "",
            format!(
                "key {} appears twice {}; keep only one",
                quoted(key),
                location(path)
            ),
        ));
    }
    for key in &keys.unknown {
        let suggestion = known.iter().copied().find(|field| is_near(key, field));
        warnings.push(Warning {
            kind: WarningKind::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
                suggestion,
            },
        });
    }
    Ok(())
}

/// The value of a required key; `hint` says what to write.
fn required(
    slot: Slot<Text>,
    path: &str,
    key: &str,
    keys: &Keys,
    hint: &str,
) -> Result<String, ManifestError> {
    match slot {
        Some(Some(Text(value))) => Ok(value),
        Some(None) => Err(invalid(&child(path, key), format!("no value; {hint}"))),
        None => Err(missing(path, key, keys, hint)),
    }
}

/// A missing required key, pointing at an unknown key that looks like its misspelling.
fn missing(path: &str, key: &str, keys: &Keys, hint: &str) -> ManifestError {
    let misspelt = keys
        .unknown
        .iter()
        .find(|unknown| is_near(unknown, key))
        .map(|unknown| format!(" (is {} a misspelling?)", quoted(unknown)))
        .unwrap_or_default();
    if path.is_empty() {
        invalid(
            "",
            format!("missing key '{key}' at top level{misspelt}; {hint}"),
        )
    } else {
        invalid(path, format!("missing key '{key}'{misspelt}; {hint}"))
    }
}

fn optional(slot: Slot<Text>) -> Option<String> {
    slot.flatten().map(|Text(value)| value)
}

/// Checks a value with `problem_of`; `what` names the kind of value, `fix` ends the message.
fn checked(
    value: String,
    path: &str,
    what: &str,
    problem_of: fn(&str) -> Option<String>,
    fix: &str,
) -> Result<String, ManifestError> {
    match problem_of(&value) {
        None => Ok(value),
        Some(problem) => Err(invalid(
            path,
            format!("{} is not {what}: {problem}{fix}", quoted(&value)),
        )),
    }
}

const REMOVE_FIX: &str = "; fix the value or remove the line";

fn build_manifest(
    raw: RawManifest,
    warnings: &mut Vec<Warning>,
) -> Result<Manifest, ManifestError> {
    check_keys("", &raw.keys, TOP_KEYS, warnings)?;
    let version = required(raw.version, "", "version", &raw.keys, "add 'version: 1'")?;
    if version != "1" {
        let problem = match version.parse::<u64>() {
            Ok(_) => format!(
                "unsupported manifest version {}; this upkeep reads version {FORMAT_VERSION}: \
                 upgrade upkeep to read it",
                quoted(&version)
            ),
            Err(_) => format!(
                "{} is not a manifest version; write 'version: {FORMAT_VERSION}'",
                quoted(&version)
            ),
        };
        return Err(invalid("version", problem));
    }
    let services = match raw.services {
        Some(services) => services.unwrap_or_default(),
        None => {
            return Err(missing(
                "",
                "services",
                &raw.keys,
                "add 'services:' with the tracked services, or 'services: {}' for none",
            ));
        }
    };
    let mut manifest = Manifest::new();
    for (name, raw_service) in services.entries {
        if let Some(problem) = service_name_problem(&name) {
            return Err(invalid(
                "services",
                format!("{} is not a service name: {problem}", quoted(&name)),
            ));
        }
        let name = ServiceName(name);
        let path = format!("services.{name}");
        if manifest.services.contains_key(&name) {
            return Err(invalid(
                "services",
                format!("service '{name}' appears twice; keep only one"),
            ));
        }
        if let Some(other) = manifest
            .services
            .keys()
            .find(|other| other.env_key() == name.env_key())
        {
            return Err(invalid(
                &path,
                format!(
                    "shares the versions.env key '{}' with services.{other}; rename one of them",
                    name.env_key()
                ),
            ));
        }
        let service = build_service(&path, raw_service, warnings)?;
        manifest.services.insert(name, service);
    }
    Ok(manifest)
}

fn build_service(
    path: &str,
    raw: RawService,
    warnings: &mut Vec<Warning>,
) -> Result<ServiceVersion, ManifestError> {
    check_keys(path, &raw.keys, SERVICE_KEYS, warnings)?;
    let image = required(
        raw.image,
        path,
        "image",
        &raw.keys,
        "add the image repository, e.g. 'image: public.ecr.aws/dagknows/outpost'",
    )?;
    let image = checked(
        image,
        &child(path, "image"),
        "an image repository",
        image_problem,
        "",
    )?;
    let tag = required(
        raw.current_tag,
        path,
        "current_tag",
        &raw.keys,
        "add the tag deployed, e.g. 'current_tag: latest'",
    )?;
    let tag = checked(tag, &child(path, "current_tag"), "a tag", tag_problem, "")?;
    let digest = optional(raw.image_digest)
        .map(|digest| {
            checked(
                digest,
                &child(path, "image_digest"),
                "a digest",
                digest_problem,
                REMOVE_FIX,
            )
        })
        .transpose()?;
    let custom = match optional(raw.custom) {
        None => false,
        Some(text) => match text.as_str() {
            "true" | "True" | "TRUE" => true,
            "false" | "False" | "FALSE" => false,
            _ => {
                return Err(invalid(
                    &child(path, "custom"),
                    format!("{} is not a boolean; write true or false", quoted(&text)),
                ));
            }
        },
    };
    let raw_history = raw.history.flatten().unwrap_or_default();
    let history_path = child(path, "history");
    if raw_history.len() > MAX_HISTORY {
        return Err(invalid(
            &history_path,
            format!(
                "{} entries, but at most {MAX_HISTORY} are kept; remove the oldest (last) entries",
                raw_history.len()
            ),
        ));
    }
    let mut history: Vec<HistoryEntry> = Vec::with_capacity(raw_history.len());
    for (index, raw_entry) in raw_history.into_iter().enumerate() {
        let entry_path = format!("{history_path}[{index}]");
        let entry = build_entry(&entry_path, raw_entry, warnings)?;
        if let Some(newer) = history
            .last()
            .filter(|newer| entry.deployed_at > newer.deployed_at)
        {
            return Err(invalid(
                &child(&entry_path, "deployed_at"),
                format!(
                    "{} is later than history[{}] ({}); the history lists the newest deployment \
                     first: reorder the entries or fix the time",
                    format_time(&entry.deployed_at),
                    index - 1,
                    format_time(&newer.deployed_at)
                ),
            ));
        }
        history.push(entry);
    }
    let current = Revision { tag, digest };
    if let Some(newest) = history.first() {
        check_newest(&history_path, &current, custom, newest)?;
    }
    Ok(ServiceVersion {
        image,
        current,
        custom,
        history,
    })
}

/// Invariants 3 and 4: the newest entry is the current deployment, and `custom` matches it.
fn check_newest(
    history_path: &str,
    current: &Revision,
    custom: bool,
    newest: &HistoryEntry,
) -> Result<(), ManifestError> {
    const AGREE: &str = "the first history entry is the current deployment: make them agree";
    let service_path = history_path
        .strip_suffix(".history")
        .unwrap_or(history_path);
    if newest.revision.tag != current.tag {
        return Err(invalid(
            &format!("{history_path}[0].tag"),
            format!(
                "{} differs from current_tag {}; {AGREE}",
                quoted(&newest.revision.tag),
                quoted(&current.tag)
            ),
        ));
    }
    if newest.revision.digest != current.digest {
        let describe =
            |digest: &Option<String>| digest.as_deref().map_or("(none)".to_owned(), quoted);
        return Err(invalid(
            &format!("{history_path}[0].digest"),
            format!(
                "{} differs from image_digest {}; {AGREE}",
                describe(&newest.revision.digest),
                describe(&current.digest)
            ),
        ));
    }
    let pinned = newest.reason == Reason::Set;
    if custom && !pinned {
        return Err(invalid(
            &child(service_path, "custom"),
            format!(
                "true, but the current deployment (history[0]) has reason '{}', not 'set'; \
                 custom marks a tag pinned with set: write 'custom: false'",
                newest.reason
            ),
        ));
    }
    if !custom && pinned {
        return Err(invalid(
            &child(service_path, "custom"),
            "false, but the current deployment (history[0]) was pinned (reason 'set'); write \
             'custom: true'"
                .to_owned(),
        ));
    }
    Ok(())
}

fn build_entry(
    path: &str,
    raw: RawEntry,
    warnings: &mut Vec<Warning>,
) -> Result<HistoryEntry, ManifestError> {
    check_keys(path, &raw.keys, ENTRY_KEYS, warnings)?;
    let tag = required(raw.tag, path, "tag", &raw.keys, "add the tag deployed")?;
    let tag = checked(tag, &child(path, "tag"), "a tag", tag_problem, "")?;
    let digest = optional(raw.digest)
        .map(|digest| {
            checked(
                digest,
                &child(path, "digest"),
                "a digest",
                digest_problem,
                REMOVE_FIX,
            )
        })
        .transpose()?;
    let time = required(
        raw.deployed_at,
        path,
        "deployed_at",
        &raw.keys,
        "add when it was deployed, e.g. 'deployed_at: 2026-01-12T12:29:08Z'",
    )?;
    let deployed_at = chrono::DateTime::parse_from_rfc3339(&time)
        .map_err(|_| {
            invalid(
                &child(path, "deployed_at"),
                format!(
                    "{} is not an RFC 3339 time; write it like '2026-01-12T12:29:08Z'",
                    quoted(&time)
                ),
            )
        })?
        .with_timezone(&Utc);
    let reason = required(
        raw.reason,
        path,
        "reason",
        &raw.keys,
        &format!("add one of {REASONS}"),
    )?;
    let reason = Reason::parse(&reason).map_err(|_| {
        invalid(
            &child(path, "reason"),
            format!(
                "{} is not a reason; write one of {REASONS}",
                quoted(&reason)
            ),
        )
    })?;
    let failed = optional(raw.failed)
        .map(|failed| {
            checked(
                failed,
                &child(path, "failed"),
                "a tag",
                tag_problem,
                REMOVE_FIX,
            )
        })
        .transpose()?;
    let failed_digest = optional(raw.failed_digest)
        .map(|digest| {
            checked(
                digest,
                &child(path, "failed_digest"),
                "a digest",
                digest_problem,
                REMOVE_FIX,
            )
        })
        .transpose()?;
    let note = optional(raw.note)
        .map(|note| {
            checked(
                note,
                &child(path, "note"),
                "a note",
                note_problem,
                REMOVE_FIX,
            )
        })
        .transpose()?;
    Ok(HistoryEntry {
        revision: Revision { tag, digest },
        deployed_at,
        reason,
        failed,
        failed_digest,
        note,
    })
}

/// True when `key` looks like a misspelling of `field`: an optimal-string-alignment distance
/// of at most 2, and at most a third of the field's length.
fn is_near(key: &str, field: &str) -> bool {
    let distance = crate::suggest::edit_distance(&key.to_ascii_lowercase(), field);
    distance <= 2 && distance * 3 <= field.len()
}

// ---------------------------------------------------------------------------------------------
// Writing

#[derive(Serialize)]
struct ManifestOut<'a> {
    version: u32,
    services: BTreeMap<&'a str, ServiceOut<'a>>,
}

#[derive(Serialize)]
struct ServiceOut<'a> {
    image: &'a str,
    current_tag: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_digest: Option<&'a str>,
    custom: bool,
    history: Vec<EntryOut<'a>>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    tag: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
    deployed_at: String,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

impl<'a> From<&'a ServiceVersion> for ServiceOut<'a> {
    fn from(version: &'a ServiceVersion) -> Self {
        Self {
            image: &version.image,
            current_tag: &version.current.tag,
            image_digest: version.current.digest(),
            custom: version.custom,
            history: version
                .history
                .iter()
                .map(|entry| EntryOut {
                    tag: &entry.revision.tag,
                    digest: entry.revision.digest(),
                    deployed_at: format_time(&entry.deployed_at),
                    reason: entry.reason.as_str(),
                    failed: entry.failed(),
                    failed_digest: entry.failed_digest(),
                    note: entry.note(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::manifest::test_support::*;

    #[track_caller]
    fn read_error(yaml: &str, message: &str) {
        check_error(Manifest::from_yaml(yaml), message);
    }

    #[track_caller]
    fn read_warnings(yaml: &str) -> Vec<String> {
        let (_, warnings) = Manifest::from_yaml(yaml).unwrap();
        warnings.iter().map(ToString::to_string).collect()
    }

    const EXAMPLE: &str = r#"# written by hand
version: 1
services:
  outpost:
    image: public.ecr.aws/dagknows/outpost
    current_tag: latest
    image_digest: 'sha256:cbd982440a966d1b814c7853caa89c430f0ddc0f5bb1ca3ebf11ec62c3fa4a00'
    custom: false
    history:
      - tag: latest
        digest: sha256:cbd982440a966d1b814c7853caa89c430f0ddc0f5bb1ca3ebf11ec62c3fa4a00
        deployed_at: 2026-01-12T12:29:08Z
        reason: pull_latest
      - tag: 1.63
        deployed_at: 2026-01-12T14:20:31+02:00
        reason: initial
        note: "migrated: from the old proxy"
  cmd_exec:
    image: public.ecr.aws/dagknows/cmd_exec
    current_tag: 1.15-hotfix-acme
    custom: true
    history:
      - {tag: 1.15-hotfix-acme, deployed_at: '2026-01-10T08:00:00.5Z', reason: set}
  vault:
    image: hashicorp/vault
    current_tag: 1.40
"#;

    #[test]
    fn reads_a_hand_written_manifest() {
        let (manifest, warnings) = Manifest::from_yaml(EXAMPLE).unwrap();
        assert!(warnings.is_empty());
        let version = outpost(&manifest);
        assert_eq!(version.current_tag(), "latest");
        assert!(!version.is_custom());
        assert_eq!(version.history()[1].tag(), "1.63");
        assert_eq!(version.history()[1].deployed_at(), time(431));
        assert_eq!(
            version.history()[1].note(),
            Some("migrated: from the old proxy")
        );
        assert_eq!(version.rollback_target().unwrap().tag(), "1.63");
        // Unquoted, `1.40` is still the tag written, not the number 1.4.
        assert_eq!(manifest.service("vault").unwrap().current_tag(), "1.40");
        assert!(manifest.service("vault").unwrap().history().is_empty());
        assert!(manifest.service("cmd_exec").unwrap().is_custom());
        assert_invariants(&manifest);

        insta::assert_snapshot!(manifest.to_yaml(), @r"
        version: 1
        services:
          cmd_exec:
            image: public.ecr.aws/dagknows/cmd_exec
            current_tag: 1.15-hotfix-acme
            custom: true
            history:
            - tag: 1.15-hotfix-acme
              deployed_at: 2026-01-10T08:00:00.500Z
              reason: set
          outpost:
            image: public.ecr.aws/dagknows/outpost
            current_tag: latest
            image_digest: sha256:cbd982440a966d1b814c7853caa89c430f0ddc0f5bb1ca3ebf11ec62c3fa4a00
            custom: false
            history:
            - tag: latest
              digest: sha256:cbd982440a966d1b814c7853caa89c430f0ddc0f5bb1ca3ebf11ec62c3fa4a00
              deployed_at: 2026-01-12T12:29:08Z
              reason: pull_latest
            - tag: '1.63'
              deployed_at: 2026-01-12T12:20:31Z
              reason: initial
              note: 'migrated: from the old proxy'
          vault:
            image: hashicorp/vault
            current_tag: '1.40'
            custom: false
            history: []
        ");
        let (again, warnings) = Manifest::from_yaml(&manifest.to_yaml()).unwrap();
        assert_eq!(again, manifest);
        assert!(warnings.is_empty());
        assert_eq!(Manifest::new().to_yaml(), "version: 1\nservices: {}\n");
    }

    #[test]
    fn unknown_keys_are_warnings_naming_the_key_and_its_place() {
        let yaml = "version: 1\nservices: {}\nservces: {}\nextra: 1\n";
        check_error(
            Manifest::from_yaml("version: 1\nservces: {}\n"),
            "missing key 'services' at top level (is 'servces' a misspelling?); add 'services:' \
             with the tracked services, or 'services: {}' for none",
        );
        assert_eq!(
            read_warnings(yaml),
            [
                "unknown key 'servces' at top level; it is ignored (did you mean 'services'?)",
                "unknown key 'extra' at top level; it is ignored",
            ]
        );
        let yaml = "version: 1
services:
  outpost:
    image: x/outpost
    current_tag: '1'
    imgae_digest: sha256:abc
    history:
    - {tag: '1', deployed_at: 2026-01-12T12:29:08Z, reason: update, Note: hi}
";
        assert_eq!(
            read_warnings(yaml),
            [
                "unknown key 'imgae_digest' at services.outpost; it is ignored (did you mean \
                 'image_digest'?)",
                "unknown key 'Note' at services.outpost.history[0]; it is ignored (did you mean \
                 'note'?)",
            ]
        );
    }

    #[test]
    fn read_errors_name_the_field_and_the_fix() {
        let service =
            |body: &str| format!("version: 1\nservices:\n  outpost:\n    image: x/outpost\n{body}");
        let entry = |tag: &str, extra: &str| {
            format!(
                "    - {{tag: '{tag}', deployed_at: 2026-01-12T12:29:08Z, reason: update{extra}}}\n"
            )
        };
        let cases = [
            (
                service("    current_tag: '1'\n    image_digest: sha256:abc\n"),
                "services.outpost.image_digest: 'sha256:abc' is not a digest: expected 64 hex \
                 characters after 'sha256:'; fix the value or remove the line"
                    .to_owned(),
            ),
            (
                service("    current_tag: Foo!\n"),
                "services.outpost.current_tag: 'Foo!' is not a tag: unexpected character '!' at \
                 position 3; tags may contain only letters, digits, '_', '.' and '-'"
                    .to_owned(),
            ),
            (
                service("    current_tag:\n"),
                "services.outpost.current_tag: no value; add the tag deployed, e.g. \
                 'current_tag: latest'"
                    .to_owned(),
            ),
            (
                "version: 1\nservices:\n  outpost:\n    current_tag: '1'\n    imgae: x\n"
                    .to_owned(),
                "services.outpost: missing key 'image' (is 'imgae' a misspelling?); add the \
                 image repository, e.g. 'image: public.ecr.aws/dagknows/outpost'"
                    .to_owned(),
            ),
            (
                service("    current_tag: '1'\n    custom: yes\n"),
                "services.outpost.custom: 'yes' is not a boolean; write true or false".to_owned(),
            ),
            (
                service("    current_tag: '1'\n    image: x/other\n"),
                "key 'image' appears twice at services.outpost; keep only one".to_owned(),
            ),
            (
                service(&format!(
                    "    current_tag: '2'\n    history:\n{}",
                    entry("1", "")
                )),
                "services.outpost.history[0].tag: '1' differs from current_tag '2'; the first \
                 history entry is the current deployment: make them agree"
                    .to_owned(),
            ),
            (
                service(&format!(
                    "    current_tag: '1'\n    image_digest: {}\n    history:\n{}",
                    digest('a'),
                    entry("1", "")
                )),
                format!(
                    "services.outpost.history[0].digest: (none) differs from image_digest '{}'; \
                     the first history entry is the current deployment: make them agree",
                    digest('a')
                ),
            ),
            (
                service(&format!(
                    "    current_tag: '1'\n    custom: true\n    history:\n{}",
                    entry("1", "")
                )),
                "services.outpost.custom: true, but the current deployment (history[0]) has \
                 reason 'update', not 'set'; custom marks a tag pinned with set: write 'custom: \
                 false'"
                    .to_owned(),
            ),
            (
                service(
                    "    current_tag: '1'\n    history:\n    - {tag: '1', deployed_at: \
                     2026-01-12T12:29:08Z, reason: set}\n",
                ),
                "services.outpost.custom: false, but the current deployment (history[0]) was \
                 pinned (reason 'set'); write 'custom: true'"
                    .to_owned(),
            ),
            (
                service(&format!(
                    "    current_tag: '1'\n    history:\n{}",
                    entry("1", "").repeat(6)
                )),
                "services.outpost.history: 6 entries, but at most 5 are kept; remove the oldest \
                 (last) entries"
                    .to_owned(),
            ),
            (
                service(&format!(
                    "    current_tag: '1'\n    history:\n{}    - {{tag: '0', deployed_at: \
                     2026-01-12T12:30:00Z, reason: initial}}\n",
                    entry("1", "")
                )),
                "services.outpost.history[1].deployed_at: 2026-01-12T12:30:00Z is later than \
                 history[0] (2026-01-12T12:29:08Z); the history lists the newest deployment \
                 first: reorder the entries or fix the time"
                    .to_owned(),
            ),
            (
                service(
                    "    current_tag: '1'\n    history:\n    - {tag: '1', deployed_at: \
                     yesterday, reason: update}\n",
                ),
                "services.outpost.history[0].deployed_at: 'yesterday' is not an RFC 3339 time; \
                 write it like '2026-01-12T12:29:08Z'"
                    .to_owned(),
            ),
            (
                service(
                    "    current_tag: '1'\n    history:\n    - {tag: '1', deployed_at: \
                     2026-01-12T12:29:08Z, reason: upgrade}\n",
                ),
                "services.outpost.history[0].reason: 'upgrade' is not a reason; write one of \
                 initial, update, pull_latest, set, rollback, rollback_to"
                    .to_owned(),
            ),
            (
                service("    current_tag: '1'\n    history:\n    - {tag: '1', reason: update}\n"),
                "services.outpost.history[0]: missing key 'deployed_at'; add when it was \
                 deployed, e.g. 'deployed_at: 2026-01-12T12:29:08Z'"
                    .to_owned(),
            ),
            (
                service(&format!(
                    "    current_tag: '1'\n    history:\n{}",
                    entry("1", ", note: ''")
                )),
                "services.outpost.history[0].note: '' is not a note: a note cannot be empty; fix \
                 the value or remove the line"
                    .to_owned(),
            ),
            (
                "version: 1\nservices:\n  my svc: {image: x, current_tag: '1'}\n".to_owned(),
                "services: 'my svc' is not a service name: unexpected character ' ' at position \
                 2; service names may contain only letters, digits, '_', '.' and '-'"
                    .to_owned(),
            ),
            (
                "version: 1\nservices:\n  a: {image: x, current_tag: '1'}\n  a: {image: x, \
                 current_tag: '1'}\n"
                    .to_owned(),
                "services: service 'a' appears twice; keep only one".to_owned(),
            ),
            (
                "version: 1\nservices:\n  a.b: {image: x, current_tag: '1'}\n  a_b: {image: x, \
                 current_tag: '1'}\n"
                    .to_owned(),
                "services.a_b: shares the versions.env key 'A_B_IMAGE' with services.a.b; rename \
                 one of them"
                    .to_owned(),
            ),
            (
                "services: {}\n".to_owned(),
                "missing key 'version' at top level; add 'version: 1'".to_owned(),
            ),
            (
                "version: 2\nservices: {}\n".to_owned(),
                "version: unsupported manifest version '2'; this upkeep reads version 1: \
                 upgrade upkeep to read it"
                    .to_owned(),
            ),
            (
                "version: one\nservices: {}\n".to_owned(),
                "version: 'one' is not a manifest version; write 'version: 1'".to_owned(),
            ),
            (
                "".to_owned(),
                "the manifest is empty; expected 'version: 1' and 'services:'; restore it from \
                 a backup or delete it to start over"
                    .to_owned(),
            ),
            (
                "version: 1\nservices:\n  outpost:\n    image: [x]\n".to_owned(),
                "cannot read the manifest: services.outpost.image: invalid type: sequence, \
                 expected a single value at line 4 column 12"
                    .to_owned(),
            ),
            (
                "- 1\n".to_owned(),
                "cannot read the manifest: invalid type: sequence, expected the manifest: a \
                 mapping with 'version' and 'services'"
                    .to_owned(),
            ),
            (
                "version: 1\nservices: {\n".to_owned(),
                "cannot read the manifest: did not find expected node content at line 3 column 1, \
                 while parsing a flow node"
                    .to_owned(),
            ),
        ];
        for (yaml, message) in cases {
            read_error(&yaml, &message);
        }
        // A service without history, custom or digest is fine.
        assert!(Manifest::from_yaml(&service("    current_tag: '1'\n")).is_ok());
    }

    #[test]
    fn awkward_notes_round_trip() {
        let mut manifest = deployed(&[("1.63", None)]);
        for note in [
            " padded ",
            "line\u{2028}separator\u{2029}x",
            "\u{feff}bom",
            "# not a comment",
            "key: value",
            "- item",
            "'single' \"double\" \\ back",
            "null",
            "1.40",
            "…unicode ✓",
        ] {
            manifest.annotate(&name("outpost"), note).unwrap();
            let (read, _) = Manifest::from_yaml(&manifest.to_yaml()).unwrap();
            assert_eq!(read, manifest, "{note:?}");
        }
    }

    proptest! {
        #[test]
        fn reading_arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Manifest::from_yaml(&text);
        }

        #[test]
        fn reading_yaml_like_text_never_panics(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("version: 1".to_owned()),
                    Just("services:".to_owned()),
                    Just("  outpost:".to_owned()),
                    Just("    image: x/y".to_owned()),
                    Just("    current_tag: '1'".to_owned()),
                    Just("    history:".to_owned()),
                    Just("    - tag: '1'".to_owned()),
                    Just("      deployed_at: 2026-01-12T12:29:08Z".to_owned()),
                    Just("      reason: update".to_owned()),
                    "[ a-z:{}\\[\\]'\"&*!|>-]{0,20}",
                ],
                0..12,
            )
        ) {
            let _ = Manifest::from_yaml(&lines.join("\n"));
        }
    }
}
