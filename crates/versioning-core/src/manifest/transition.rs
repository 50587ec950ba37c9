//! The operations that change a manifest: deploy, pin, roll back, roll back to a tag, record
//! a failed update, annotate, record a digest, remove; and their rules (see the
//! [module documentation](super#transitions)).
//!
//! Every check happens before the first write, so an error leaves the manifest exactly as it
//! was. This module neither reads nor writes text (`yaml` does) and takes the time as `now`.

use super::MAX_HISTORY;
use super::error::{ErrorKind, ManifestError, validate};
use super::model::{
    Change, DeployReason, HistoryEntry, Manifest, Reason, Revision, ServiceName, ServiceVersion,
    digest_problem, image_problem, note_problem, tag_problem,
};
use crate::Timestamp;

impl Manifest {
    /// Records that `service` now runs `tag` (with `digest`, when known).
    ///
    /// A service not yet in the manifest is added, which needs its `image` repository, and
    /// recorded with [`Reason::Initial`]. For a tracked service `image` may be left out; when
    /// given it must be the recorded one (the history belongs to that repository: to switch
    /// repositories, [`remove`](Self::remove) the service and deploy it again).
    ///
    /// Deploying exactly the current tag and digest (an unknown digest being different from a
    /// known one) is a no-op [`Change`]: no history entry, and `custom` stays as it is.
    /// Otherwise a new entry is recorded and `custom` becomes false, even if a custom tag was
    /// pinned: whether a pinned service may be updated is a policy decision made before.
    pub fn deploy(
        &mut self,
        service: &ServiceName,
        image: Option<&str>,
        tag: &str,
        digest: Option<&str>,
        reason: DeployReason,
        now: Timestamp,
    ) -> Result<Change, ManifestError> {
        let target = Revision::checked(tag, digest)?;
        if let Some(image) = image {
            validate("image", image, image_problem)?;
        }
        let Some(existing) = self.services.get(service) else {
            let Some(image) = image else {
                return Err(ErrorKind::ImageRequired {
                    service: service.clone(),
                }
                .into());
            };
            self.check_env_key_free(service)?;
            let entry = HistoryEntry {
                revision: target.clone(),
                deployed_at: now,
                reason: Reason::Initial,
                failed: None,
                failed_digest: None,
                note: None,
            };
            self.services.insert(
                service.clone(),
                ServiceVersion {
                    image: image.to_owned(),
                    current: target.clone(),
                    custom: false,
                    history: vec![entry],
                },
            );
            return Ok(Change {
                service: service.clone(),
                before: None,
                after: target,
                reason: Reason::Initial,
                recorded: true,
            });
        };
        if let Some(image) = image.filter(|image| *image != existing.image) {
            return Err(ErrorKind::ImageMismatch {
                service: service.clone(),
                recorded: existing.image.clone(),
                given: image.to_owned(),
            }
            .into());
        }
        if existing.current == target {
            return Ok(noop(service, target, reason.into()));
        }
        self.record(service, target, reason.into(), false, now)
    }

    /// Pins `service` to a custom tag, such as a customer hotfix (`version-set`): records it
    /// with [`Reason::Set`] and sets `custom`. Pinning the tag and digest already running
    /// records a `set` entry when the service was not custom yet (the flag changes), and is a
    /// no-op when it already was.
    pub fn pin(
        &mut self,
        service: &ServiceName,
        tag: &str,
        digest: Option<&str>,
        now: Timestamp,
    ) -> Result<Change, ManifestError> {
        let target = Revision::checked(tag, digest)?;
        let existing = self.existing(service)?;
        if existing.custom && existing.current == target {
            return Ok(noop(service, target, Reason::Set));
        }
        self.record(service, target, Reason::Set, true, now)
    }

    /// Rolls `service` back to its [`rollback_target`](ServiceVersion::rollback_target), the
    /// newest history entry distinct from the current deployment, with that entry's digest.
    /// The rollback is recorded as a new entry ([`Reason::Rollback`]) and clears `custom`.
    pub fn roll_back(
        &mut self,
        service: &ServiceName,
        now: Timestamp,
    ) -> Result<Change, ManifestError> {
        let existing = self.existing(service)?;
        let Some(target) = existing.rollback_target() else {
            return Err(ErrorKind::NoEarlierVersion {
                service: service.clone(),
            }
            .into());
        };
        let target = target.revision.clone();
        self.record(service, target, Reason::Rollback, false, now)
    }

    /// Rolls `service` back (or forward) to `tag`, recorded with [`Reason::RollbackTo`]; clears
    /// `custom`.
    ///
    /// The digest is that of the newest history entry with this tag that is distinct from the
    /// current deployment (so `latest` can go back to an earlier `latest` by digest). A tag not
    /// in the history is allowed, as any tag may be pulled, and recorded without a digest (fill
    /// it in with [`record_digest`](Self::record_digest) once pulled). Asking for the current
    /// tag with no distinct entry for it is a no-op.
    pub fn roll_back_to(
        &mut self,
        service: &ServiceName,
        tag: &str,
        now: Timestamp,
    ) -> Result<Change, ManifestError> {
        let named = Revision::checked(tag, None)?;
        let existing = self.existing(service)?;
        let found = existing.history.iter().find(|entry| {
            entry.revision.tag == named.tag && entry.revision.is_distinct_from(&existing.current)
        });
        let target = match found {
            Some(entry) => entry.revision.clone(),
            None if existing.current.tag == named.tag => {
                return Ok(noop(service, existing.current.clone(), Reason::RollbackTo));
            }
            None => named,
        };
        self.record(service, target, Reason::RollbackTo, false, now)
    }

    /// Attaches a free-text note (one line, such as "health check failed") to the newest
    /// history entry of `service`, the current deployment, replacing any earlier note. Call it
    /// after a transition whose [`Change`] is not a no-op.
    pub fn annotate(&mut self, service: &ServiceName, note: &str) -> Result<(), ManifestError> {
        validate("note", note, note_problem)?;
        let Some(existing) = self.services.get_mut(service) else {
            return Err(self.unknown(service));
        };
        let Some(newest) = existing.history.first_mut() else {
            return Err(ErrorKind::NoHistory {
                service: service.clone(),
            }
            .into());
        };
        newest.note = Some(note.to_owned());
        Ok(())
    }

    /// Records an update of `service` to `failed_tag` that failed and was undone: the current
    /// deployment, which runs again, gets a new `rollback` entry naming the failed tag and
    /// `note` (why it failed). The manifest never named the failed version as current, so
    /// [`roll_back`](Self::roll_back) still returns to what ran before the current one, and
    /// [`ServiceVersion::failed_tags`] lists the failed tag while the history holds the entry.
    pub fn record_failed_update(
        &mut self,
        service: &ServiceName,
        failed_tag: &str,
        failed_digest: Option<&str>,
        note: &str,
        now: Timestamp,
    ) -> Result<Change, ManifestError> {
        validate("tag", failed_tag, tag_problem)?;
        if let Some(digest) = failed_digest {
            validate("digest", digest, digest_problem)?;
        }
        validate("note", note, note_problem)?;
        let current = self.existing(service)?.current.clone();
        let change = self.record(service, current, Reason::Rollback, false, now)?;
        if let Some(newest) = self
            .services
            .get_mut(service)
            .and_then(|existing| existing.history.first_mut())
        {
            newest.failed = Some(failed_tag.to_owned());
            newest.failed_digest = failed_digest.map(str::to_owned);
            newest.note = Some(note.to_owned());
        }
        Ok(change)
    }

    /// Fills in the digest of the current deployment of `service` when it was unknown (after
    /// pulling a tag recorded without one), in `image_digest` and the newest history entry.
    /// Recording the digest already known does nothing; a different one is an error, since
    /// that is a new image: [`deploy`](Self::deploy) it.
    pub fn record_digest(
        &mut self,
        service: &ServiceName,
        digest: &str,
    ) -> Result<(), ManifestError> {
        validate("digest", digest, digest_problem)?;
        let Some(existing) = self.services.get_mut(service) else {
            return Err(self.unknown(service));
        };
        match &existing.current.digest {
            Some(known) if known == digest => Ok(()),
            Some(known) => Err(ErrorKind::DigestKnown {
                service: service.clone(),
                known: known.clone(),
                given: digest.to_owned(),
            }
            .into()),
            None => {
                existing.current.digest = Some(digest.to_owned());
                if let Some(newest) = existing.history.first_mut() {
                    newest.revision.digest = Some(digest.to_owned());
                }
                Ok(())
            }
        }
    }

    /// Stops tracking `service` and returns what was recorded for it.
    pub fn remove(&mut self, service: &ServiceName) -> Result<ServiceVersion, ManifestError> {
        match self.services.remove(service) {
            Some(removed) => Ok(removed),
            None => Err(self.unknown(service)),
        }
    }

    fn existing(&self, service: &ServiceName) -> Result<&ServiceVersion, ManifestError> {
        self.services
            .get(service)
            .ok_or_else(|| self.unknown(service))
    }

    fn unknown(&self, service: &ServiceName) -> ManifestError {
        ErrorKind::UnknownService {
            service: service.clone(),
            known: self.services.keys().cloned().collect(),
        }
        .into()
    }

    fn check_env_key_free(&self, service: &ServiceName) -> Result<(), ManifestError> {
        let key = service.env_key();
        match self.services.keys().find(|other| other.env_key() == key) {
            Some(other) => Err(ErrorKind::EnvKeyTaken {
                service: service.clone(),
                other: other.clone(),
                key,
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Makes `target` the current deployment of a tracked service with a new history entry.
    /// Every check happens before the first write.
    fn record(
        &mut self,
        service: &ServiceName,
        target: Revision,
        reason: Reason,
        custom: bool,
        now: Timestamp,
    ) -> Result<Change, ManifestError> {
        let Some(existing) = self.services.get_mut(service) else {
            return Err(self.unknown(service));
        };
        if let Some(newest) = existing
            .history
            .first()
            .filter(|newest| now < newest.deployed_at)
        {
            return Err(ErrorKind::ClockBehind {
                service: service.clone(),
                now,
                newest: newest.deployed_at,
            }
            .into());
        }
        let before = std::mem::replace(&mut existing.current, target.clone());
        existing.custom = custom;
        existing.history.insert(
            0,
            HistoryEntry {
                revision: target.clone(),
                deployed_at: now,
                reason,
                failed: None,
                failed_digest: None,
                note: None,
            },
        );
        existing.history.truncate(MAX_HISTORY);
        Ok(Change {
            service: service.clone(),
            before: Some(before),
            after: target,
            reason,
            recorded: true,
        })
    }
}

fn noop(service: &ServiceName, current: Revision, reason: Reason) -> Change {
    Change {
        service: service.clone(),
        before: Some(current.clone()),
        after: current,
        reason,
        recorded: false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::manifest::test_support::*;

    #[test]
    fn transition_arguments_are_validated() {
        let mut manifest = deployed(&[("1.63", None)]);
        let before = manifest.clone();
        let service = name("outpost");
        let long = "a".repeat(129);
        let long_message = "invalid tag '".to_owned()
            + &long
            + "': it is 129 characters long; tags have at most 128";
        let cases: [(Option<&str>, &str, Option<&str>, &str); 10] = [
            (
                None,
                "Foo!",
                None,
                "invalid tag 'Foo!': unexpected character '!' at position 3; tags may contain \
                 only letters, digits, '_', '.' and '-'",
            ),
            (None, "", None, "invalid tag '': a tag cannot be empty"),
            (
                None,
                ".hidden",
                None,
                "invalid tag '.hidden': it must start with a letter, digit or '_'",
            ),
            (None, &long, None, &long_message),
            (
                None,
                "1.64",
                Some("sha256:abc"),
                "invalid digest 'sha256:abc': expected 64 hex characters after 'sha256:'",
            ),
            (
                None,
                "1.64",
                Some("md5:abc"),
                "invalid digest 'md5:abc': unsupported algorithm 'md5'; expected 'sha256' or \
                 'sha512'",
            ),
            (
                None,
                "1.64",
                Some("cbd982"),
                "invalid digest 'cbd982': expected 'sha256:' or 'sha512:' followed by lowercase \
                 hex",
            ),
            (
                None,
                "1.64",
                Some("sha256:ABC"),
                "invalid digest 'sha256:ABC': unexpected character 'A' at position 7; expected \
                 lowercase hex (0-9, a-f)",
            ),
            (
                Some("outpost:1.2"),
                "1.64",
                None,
                "invalid image 'outpost:1.2': it includes the tag '1.2'; give the repository \
                 alone (the tag is recorded separately)",
            ),
            (
                Some("my image"),
                "1.64",
                None,
                "invalid image 'my image': unexpected character ' ' at position 2; image \
                 repositories may contain only letters, digits, '.', '_', '-', '/', ':', '[' and \
                 ']'",
            ),
        ];
        for (image, tag, digest, message) in cases {
            let result = manifest.deploy(
                &service,
                image,
                tag,
                digest,
                DeployReason::Update,
                time(600),
            );
            check_error(result, message);
            assert_eq!(manifest, before);
        }
        check_error(
            manifest.deploy(
                &service,
                Some("outpost@sha256:abc"),
                "1.64",
                None,
                DeployReason::Update,
                time(600),
            ),
            "invalid image 'outpost@sha256:abc': it includes the digest 'sha256:abc'; give the \
             repository alone (the digest is recorded separately)",
        );
        check_error(
            manifest.deploy(
                &service,
                Some(""),
                "1.64",
                None,
                DeployReason::Update,
                time(600),
            ),
            "invalid image '': an image repository cannot be empty",
        );
        let sha512 = format!("sha512:{}", "0".repeat(128));
        assert!(
            manifest
                .deploy(
                    &service,
                    Some(OUTPOST_IMAGE),
                    "1.64",
                    Some(&sha512),
                    DeployReason::Update,
                    time(600)
                )
                .is_ok()
        );
        // A registry port is not a tag.
        assert!(image_problem("localhost:5000/team/outpost").is_none());
    }

    #[test]
    fn deploy_adds_a_service_as_initial_then_records_updates() {
        let mut manifest = Manifest::new();
        let service = name("outpost");
        let d1 = digest('a');
        let added = manifest
            .deploy(
                &service,
                Some(OUTPOST_IMAGE),
                "1.63",
                Some(&d1),
                DeployReason::PullLatest,
                time(0),
            )
            .unwrap();
        assert!(added.is_addition() && !added.is_noop());
        assert_eq!(added.reason(), Reason::Initial);
        assert_eq!(added.after().digest(), Some(d1.as_str()));
        assert_eq!(added.to_string(), "outpost: added at 1.63 (initial)");

        let updated = manifest
            .deploy(&service, None, "1.64", None, DeployReason::Update, time(60))
            .unwrap();
        assert_eq!(updated.before().unwrap().tag(), "1.63");
        assert_eq!(updated.service(), &service);
        assert_eq!(updated.to_string(), "outpost: 1.63 -> 1.64 (update)");
        let version = outpost(&manifest);
        assert_eq!(version.image(), OUTPOST_IMAGE);
        assert_eq!(version.current_tag(), "1.64");
        assert_eq!(version.image_digest(), None);
        assert_eq!(
            version.image_reference(),
            "public.ecr.aws/dagknows/outpost:1.64"
        );
        let reasons: Vec<Reason> = version.history().iter().map(HistoryEntry::reason).collect();
        assert_eq!(reasons, [Reason::Update, Reason::Initial]);
        assert_eq!(version.history()[0].deployed_at(), time(60));
        assert_invariants(&manifest);
    }

    #[test]
    fn deploying_the_current_tag_and_digest_is_a_noop() {
        let mut manifest = deployed(&[("latest", Some('a'))]);
        let before = manifest.clone();
        let change = manifest
            .deploy(
                &name("outpost"),
                Some(OUTPOST_IMAGE),
                "latest",
                Some(&digest('a')),
                DeployReason::PullLatest,
                time(600),
            )
            .unwrap();
        assert!(change.is_noop());
        assert_eq!(change.to_string(), "outpost: already at latest");
        assert_eq!(manifest, before);

        // A new digest under the same tag is a new deployment, and so is an unknown digest.
        let change = manifest
            .deploy(
                &name("outpost"),
                None,
                "latest",
                Some(&digest('b')),
                DeployReason::PullLatest,
                time(600),
            )
            .unwrap();
        assert_eq!(
            change.to_string(),
            "outpost: latest@aaaaaaaaaaaa -> latest@bbbbbbbbbbbb (pull_latest)"
        );
        let change = manifest
            .deploy(
                &name("outpost"),
                None,
                "latest",
                None,
                DeployReason::PullLatest,
                time(660),
            )
            .unwrap();
        assert!(!change.is_noop());
        assert_eq!(outpost(&manifest).history().len(), 3);
    }

    #[test]
    fn deploy_needs_the_image_of_a_new_service_and_keeps_the_recorded_one() {
        let mut manifest = deployed(&[("1.63", None)]);
        check_error(
            manifest.deploy(
                &name("vault"),
                None,
                "1.15",
                None,
                DeployReason::Update,
                time(0),
            ),
            "service 'vault' is not in the manifest yet; give its image repository to add it",
        );
        check_error(
            manifest.deploy(
                &name("outpost"),
                Some("docker.io/dagknows/outpost"),
                "1.64",
                None,
                DeployReason::Update,
                time(600),
            ),
            "service 'outpost' is recorded with image 'public.ecr.aws/dagknows/outpost', not \
             'docker.io/dagknows/outpost'; its history belongs to that image: remove the \
             service from the manifest to start over with the new one",
        );
        let removed = manifest.remove(&name("outpost")).unwrap();
        assert_eq!(removed.current_tag(), "1.63");
        assert!(manifest.is_empty());
        check_error(
            manifest.remove(&name("outpost")),
            "unknown service 'outpost'; the manifest has no services yet",
        );
    }

    #[test]
    fn services_sharing_an_env_key_are_refused() {
        let mut manifest = Manifest::new();
        manifest
            .deploy(
                &name("a.b"),
                Some("x/a"),
                "1",
                None,
                DeployReason::Update,
                time(0),
            )
            .unwrap();
        check_error(
            manifest.deploy(
                &name("A-b"),
                Some("x/a"),
                "1",
                None,
                DeployReason::Update,
                time(0),
            ),
            "service 'A-b' would share the versions.env key 'A_B_IMAGE' with service 'a.b'; \
             rename one of them",
        );
    }

    #[test]
    fn history_keeps_the_newest_five() {
        let manifest = deployed(&[
            ("1.1", None),
            ("1.2", None),
            ("1.3", None),
            ("1.4", None),
            ("1.5", None),
            ("1.6", None),
            ("1.7", None),
        ]);
        assert_eq!(tags(&manifest), ["1.7", "1.6", "1.5", "1.4", "1.3"]);
        assert_invariants(&manifest);
    }

    #[test]
    fn pin_marks_custom_until_the_next_deployment() {
        let mut manifest = deployed(&[("1.15", None)]);
        let service = name("outpost");
        let change = manifest
            .pin(&service, "1.15-hotfix-acme", None, time(60))
            .unwrap();
        assert_eq!(change.reason(), Reason::Set);
        assert!(outpost(&manifest).is_custom());
        assert_invariants(&manifest);

        // Pinning it again is a no-op.
        let before = manifest.clone();
        assert!(
            manifest
                .pin(&service, "1.15-hotfix-acme", None, time(120))
                .unwrap()
                .is_noop()
        );
        assert_eq!(manifest, before);

        manifest
            .deploy(
                &service,
                None,
                "1.15",
                None,
                DeployReason::Update,
                time(180),
            )
            .unwrap();
        assert!(!outpost(&manifest).is_custom());

        // Pinning the running tag marks it custom, which is a change worth recording.
        let change = manifest.pin(&service, "1.15", None, time(240)).unwrap();
        assert!(!change.is_noop());
        assert!(outpost(&manifest).is_custom());
        assert_eq!(
            tags(&manifest),
            ["1.15", "1.15", "1.15-hotfix-acme", "1.15"]
        );
        assert_invariants(&manifest);
    }

    #[test]
    fn roll_back_goes_to_the_newest_distinct_entry_and_records_it() {
        let mut manifest = deployed(&[("1.62", None), ("1.63", None), ("1.63", Some('a'))]);
        let service = name("outpost");
        // `1.63` without a digest is not distinct from `1.63@a`, so the target is 1.62.
        assert_eq!(outpost(&manifest).rollback_target().unwrap().tag(), "1.62");
        let change = manifest.roll_back(&service, time(600)).unwrap();
        assert_eq!(change.to_string(), "outpost: 1.63 -> 1.62 (rollback)");
        assert_eq!(outpost(&manifest).history()[0].reason(), Reason::Rollback);
        // A second rollback returns, like `cd -`.
        manifest.roll_back(&service, time(660)).unwrap();
        assert_eq!(
            outpost(&manifest).current().to_string(),
            digest('a').replace("sha256", "1.63@sha256")
        );
        assert_eq!(outpost(&manifest).history().len(), 5);
        assert_invariants(&manifest);
    }

    #[test]
    fn roll_back_follows_digests_under_one_tag_and_clears_custom() {
        let mut manifest = deployed(&[("latest", Some('a')), ("latest", Some('b'))]);
        let service = name("outpost");
        manifest.pin(&service, "hotfix", None, time(600)).unwrap();
        let change = manifest.roll_back(&service, time(660)).unwrap();
        assert_eq!(change.after().digest(), Some(digest('b').as_str()));
        assert!(!outpost(&manifest).is_custom());
        let change = manifest.roll_back(&service, time(720)).unwrap();
        assert_eq!(change.after().tag(), "hotfix");
        assert_invariants(&manifest);
    }

    #[test]
    fn roll_back_without_an_earlier_version_is_an_error() {
        let message = "service 'outpost' has no earlier version to roll back to; see its history \
                       with `upkeep history outpost`";
        let mut manifest = deployed(&[("1.63", None)]);
        check_error(manifest.roll_back(&name("outpost"), time(600)), message);
        let mut manifest = deployed(&[("1.63", Some('a')), ("1.63", None)]);
        let before = manifest.clone();
        check_error(manifest.roll_back(&name("outpost"), time(600)), message);
        assert_eq!(manifest, before);
    }

    #[test]
    fn roll_back_to_a_named_tag() {
        let mut manifest = deployed(&[("1.61", Some('a')), ("1.62", Some('b')), ("1.63", None)]);
        let service = name("outpost");
        let change = manifest.roll_back_to(&service, "1.61", time(600)).unwrap();
        assert_eq!(change.after().digest(), Some(digest('a').as_str()));
        assert_eq!(change.reason(), Reason::RollbackTo);

        // A tag never deployed is allowed, without a digest.
        let change = manifest.roll_back_to(&service, "1.40", time(660)).unwrap();
        assert_eq!(change.after(), &Revision::checked("1.40", None).unwrap());

        // The current tag is a no-op.
        let before = manifest.clone();
        assert!(
            manifest
                .roll_back_to(&service, "1.40", time(720))
                .unwrap()
                .is_noop()
        );
        assert_eq!(manifest, before);
        check_error(
            manifest.roll_back_to(&service, "1.40!", time(720)),
            "invalid tag '1.40!': unexpected character '!' at position 4; tags may contain only \
             letters, digits, '_', '.' and '-'",
        );
        assert_invariants(&manifest);
    }

    #[test]
    fn roll_back_to_the_current_tag_finds_an_earlier_digest() {
        let mut manifest = deployed(&[("latest", Some('a')), ("latest", Some('b'))]);
        let change = manifest
            .roll_back_to(&name("outpost"), "latest", time(600))
            .unwrap();
        assert_eq!(change.after().digest(), Some(digest('a').as_str()));
    }

    #[test]
    fn unknown_services_are_named_with_the_known_ones() {
        let mut manifest = deployed(&[("1.63", None)]);
        let missing = name("outpst");
        check_error(
            manifest.roll_back(&missing, time(600)),
            "unknown service 'outpst'; the manifest has only 'outpost'",
        );
        for service in ["vault", "cmd_exec"] {
            manifest
                .deploy(
                    &name(service),
                    Some("x/y"),
                    "1",
                    None,
                    DeployReason::Update,
                    time(0),
                )
                .unwrap();
        }
        let message =
            "unknown service 'outpst'; the manifest has 'cmd_exec', 'outpost' and 'vault'";
        check_error(manifest.pin(&missing, "1", None, time(600)), message);
        check_error(manifest.roll_back_to(&missing, "1", time(600)), message);
        check_error(manifest.annotate(&missing, "x"), message);
        check_error(manifest.record_digest(&missing, &digest('a')), message);
    }

    #[test]
    fn a_clock_gone_backwards_is_an_error_that_changes_nothing() {
        let mut manifest = deployed(&[("1.62", None), ("1.63", None)]);
        let before = manifest.clone();
        check_error(
            manifest.roll_back(&name("outpost"), time(-60)),
            "cannot record a change of 'outpost' at 2026-01-12T12:12:20Z: its newest history \
             entry is later (2026-01-12T12:14:20Z); check the system clock",
        );
        assert_eq!(manifest, before);
        // The same instant is fine.
        assert!(manifest.roll_back(&name("outpost"), time(60)).is_ok());
    }

    #[test]
    fn a_failed_update_is_recorded_without_becoming_a_rollback_target() {
        let mut manifest = deployed(&[("1.62", None), ("1.63", None)]);
        let service = name("outpost");
        let change = manifest
            .record_failed_update(&service, "1.64", None, "health check failed", time(600))
            .unwrap();
        assert_eq!(change.after().tag(), "1.63");
        let outpost = outpost(&manifest);
        assert_eq!(outpost.current_tag(), "1.63");
        assert_eq!(outpost.history()[0].reason(), Reason::Rollback);
        assert_eq!(outpost.history()[0].failed(), Some("1.64"));
        assert_eq!(outpost.history()[0].note(), Some("health check failed"));
        assert_eq!(outpost.failed_tags().collect::<Vec<_>>(), ["1.64"]);
        // Rolling back still goes to what ran before 1.63, not to the failed 1.64.
        assert_eq!(outpost.rollback_target().unwrap().tag(), "1.62");
        let text = manifest.to_yaml();
        assert!(text.contains("failed: '1.64'"), "{text}");
        assert_eq!(Manifest::from_yaml(&text).unwrap().0, manifest);
        check_error(
            manifest.record_failed_update(&service, "bad tag", None, "x", time(700)),
            "invalid tag 'bad tag': unexpected character ' ' at position 3; tags may contain \
             only letters, digits, '_', '.' and '-'",
        );
    }

    #[test]
    fn annotate_and_record_digest_touch_only_the_current_deployment() {
        let mut manifest = deployed(&[("1.62", None), ("1.63", None)]);
        let service = name("outpost");
        manifest.annotate(&service, "health check failed").unwrap();
        assert_eq!(
            outpost(&manifest).history()[0].note(),
            Some("health check failed")
        );
        assert_eq!(outpost(&manifest).history()[1].note(), None);
        check_error(
            manifest.annotate(&service, "two\nlines"),
            "invalid note 'two\\nlines': unexpected control character '\\n' at position 3; a \
             note is one line of text",
        );
        check_error(
            manifest.annotate(&service, " "),
            "invalid note ' ': a note cannot be empty",
        );

        manifest.record_digest(&service, &digest('a')).unwrap();
        manifest.record_digest(&service, &digest('a')).unwrap();
        assert_eq!(
            outpost(&manifest).image_digest(),
            Some(digest('a').as_str())
        );
        assert_eq!(outpost(&manifest).history()[1].digest(), None);
        assert_invariants(&manifest);
        check_error(
            manifest.record_digest(&service, &digest('b')),
            &format!(
                "service 'outpost' already runs digest '{}', not '{}'; a different digest is a \
                 new image: deploy it",
                digest('a'),
                digest('b')
            ),
        );
        let (empty_history, _) = Manifest::from_yaml(
            "version: 1\nservices:\n  outpost: {image: x/y, current_tag: '1'}\n",
        )
        .unwrap();
        let mut empty_history = empty_history;
        check_error(
            empty_history.annotate(&service, "x"),
            "service 'outpost' has no history entry to annotate; deploy it first",
        );
    }

    // `a.b` and `A-b` share an env key; `9lives` gets a leading `_` in it.
    const SERVICES: &[&str] = &["outpost", "9lives", "a.b", "A-b"];
    const IMAGES: &[&str] = &[
        "public.ecr.aws/dagknows/outpost",
        "localhost:5000/9lives",
        "[::1]:5000/a",
        "hashicorp/vault",
    ];
    const TAGS: &[&str] = &[
        "latest",
        "1.63",
        "1.40",
        "null",
        "true",
        "yes",
        "007",
        "1e3",
        "v2.0.0-rc.1",
        "_x",
        "~x",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        Deploy {
            service: usize,
            image: Option<usize>,
            tag: usize,
            digest: Option<usize>,
            pull_latest: bool,
        },
        Pin {
            service: usize,
            tag: usize,
            digest: Option<usize>,
        },
        RollBack {
            service: usize,
        },
        RollBackTo {
            service: usize,
            tag: usize,
        },
        Annotate {
            service: usize,
            note: String,
        },
        RecordDigest {
            service: usize,
            digest: usize,
        },
        Remove {
            service: usize,
        },
    }

    fn digest_for(index: usize) -> String {
        match index {
            0 => format!("sha512:{}", "0123456789abcdef".repeat(8)),
            _ => digest(['a', 'b', 'c', '9'][index % 4]),
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let service = 0..SERVICES.len();
        let tag = 0..TAGS.len();
        let digest = proptest::option::of(0..4usize);
        // Mostly the service's own image (same index), sometimes none, rarely another one.
        let image = prop_oneof![
            3 => Just(Some(0usize)),
            2 => Just(None),
            1 => (0..IMAGES.len()).prop_map(Some),
        ];
        prop_oneof![
            4 => (service.clone(), image, tag.clone(), digest.clone(), any::<bool>()).prop_map(
                |(service, image, tag, digest, pull_latest)| Op::Deploy {
                    service,
                    image,
                    tag,
                    digest,
                    pull_latest,
                }
            ),
            1 => (service.clone(), tag.clone(), digest)
                .prop_map(|(service, tag, digest)| Op::Pin { service, tag, digest }),
            2 => service.clone().prop_map(|service| Op::RollBack { service }),
            1 => (service.clone(), tag).prop_map(|(service, tag)| Op::RollBackTo { service, tag }),
            1 => (service.clone(), "\\PC{0,12}")
                .prop_map(|(service, note)| Op::Annotate { service, note }),
            1 => (service.clone(), 0..4usize)
                .prop_map(|(service, digest)| Op::RecordDigest { service, digest }),
            1 => service.prop_map(|service| Op::Remove { service }),
        ]
    }

    fn apply(
        manifest: &mut Manifest,
        op: &Op,
        now: Timestamp,
    ) -> Result<Option<Change>, ManifestError> {
        let service = |index: usize| name(SERVICES[index]);
        match op {
            Op::Deploy {
                service: s,
                image,
                tag,
                digest,
                pull_latest,
            } => {
                let reason = if *pull_latest {
                    DeployReason::PullLatest
                } else {
                    DeployReason::Update
                };
                let digest = digest.map(digest_for);
                manifest
                    .deploy(
                        &service(*s),
                        image.map(|offset| IMAGES[(s + offset) % IMAGES.len()]),
                        TAGS[*tag],
                        digest.as_deref(),
                        reason,
                        now,
                    )
                    .map(Some)
            }
            Op::Pin {
                service: s,
                tag,
                digest,
            } => {
                let digest = digest.map(digest_for);
                manifest
                    .pin(&service(*s), TAGS[*tag], digest.as_deref(), now)
                    .map(Some)
            }
            Op::RollBack { service: s } => manifest.roll_back(&service(*s), now).map(Some),
            Op::RollBackTo { service: s, tag } => manifest
                .roll_back_to(&service(*s), TAGS[*tag], now)
                .map(Some),
            Op::Annotate { service: s, note } => {
                manifest.annotate(&service(*s), note).map(|()| None)
            }
            Op::RecordDigest { service: s, digest } => manifest
                .record_digest(&service(*s), &digest_for(*digest))
                .map(|()| None),
            Op::Remove { service: s } => manifest.remove(&service(*s)).map(|_| None),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn transitions_keep_the_invariants_and_yaml_round_trips(
            steps in proptest::collection::vec(
                (op(), -30i64..600, proptest::option::of(0u32..1_000_000_000)),
                1..60,
            )
        ) {
            let mut manifest = Manifest::new();
            let mut seconds = 0i64;
            for (op, step, nanos) in &steps {
                seconds += step;
                let now = Timestamp::from_timestamp(1_768_220_000 + seconds, nanos.unwrap_or(0))
                    .unwrap();
                let before = manifest.clone();
                let rollback_target = match op {
                    Op::RollBack { service } => before
                        .service(SERVICES[*service])
                        .and_then(ServiceVersion::rollback_target)
                        .map(|entry| entry.revision().clone()),
                    _ => None,
                };
                match apply(&mut manifest, op, now) {
                    Err(_) => prop_assert_eq!(&manifest, &before),
                    Ok(None) => {}
                    Ok(Some(change)) if change.is_noop() => prop_assert_eq!(&manifest, &before),
                    Ok(Some(change)) => {
                        let version = manifest.service(change.service().as_str()).unwrap();
                        prop_assert_eq!(version.current(), change.after());
                        prop_assert_eq!(version.history()[0].deployed_at(), now);
                        prop_assert_eq!(version.history()[0].reason(), change.reason());
                        prop_assert_eq!(version.is_custom(), change.reason() == Reason::Set);
                        if let Some(target) = rollback_target {
                            prop_assert_eq!(&target, change.after());
                        }
                    }
                }
                assert_invariants(&manifest);
                for version in manifest.services().values() {
                    prop_assert!(!version.history().is_empty());
                }
                let yaml = manifest.to_yaml();
                let (read, warnings) = Manifest::from_yaml(&yaml).unwrap();
                prop_assert_eq!(&read, &manifest);
                prop_assert!(warnings.is_empty());
                prop_assert_eq!(read.to_yaml(), yaml);
                let env_lines = manifest.versions_env().lines().count();
                prop_assert_eq!(env_lines, manifest.services().len() + 1);
            }
        }
    }
}
