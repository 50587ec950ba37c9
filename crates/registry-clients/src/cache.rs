//! An in-memory cache with a time to live, and single-flight: concurrent identical lookups
//! share one request. So checking 200 deployments of 20 repositories costs one tag listing
//! per repository.
//!
//! Manifests fetched by digest are cached for the cache's life, since their content cannot
//! change; everything looked up by tag expires after the TTL.
//!
//! # What this module does not do
//! Failures are not cached: a waiter that finds the shared lookup failed asks again itself,
//! so a transient error is not remembered for the whole TTL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use upkeep_versioning_core::clock::{Clock, SystemClock};
use upkeep_versioning_core::reference::Digest;
use upkeep_versioning_core::{TimeDelta, Timestamp};

use crate::{Manifest, Registry, RegistryError, TagMetadata};

/// How long a tag listing or a tag's digest is trusted; ten minutes by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// A [`Registry`] that remembers answers for a while and shares concurrent lookups.
pub struct CachingRegistry<R> {
    inner: R,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    tags: Slots<Vec<String>>,
    digests: Slots<Digest>,
    manifests: Slots<Manifest>,
    metadata: Slots<Vec<TagMetadata>>,
}

/// Per-key slots: a lookup holds its key's lock while it asks, so the others wait for it.
type Slots<T> = Mutex<BTreeMap<String, Arc<Mutex<Option<Cached<T>>>>>>;

struct Cached<T> {
    value: T,
    /// `None` for content-addressed values that never expire.
    expires: Option<Timestamp>,
}

impl<R: Registry> CachingRegistry<R> {
    /// Wraps `inner`, trusting its answers for `ttl`.
    pub fn new(inner: R, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            clock: Arc::new(SystemClock),
            tags: Mutex::default(),
            digests: Mutex::default(),
            manifests: Mutex::default(),
            metadata: Mutex::default(),
        }
    }

    /// Reads the time from `clock` instead of the system's, to tell when answers expire.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wrapped registry.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Forgets what is cached about `repository`'s tags (listing, digests, manifests by tag,
    /// metadata), so the next lookup asks the registry: a push notification says they moved.
    /// Manifests by digest stay; their content cannot change.
    pub async fn forget(&self, repository: &str) {
        let by_reference = format!("{repository}@");
        self.tags.lock().await.remove(repository);
        self.metadata.lock().await.remove(repository);
        self.digests
            .lock()
            .await
            .retain(|key, _| !key.starts_with(&by_reference));
        self.manifests
            .lock()
            .await
            .retain(|key, _| key.strip_prefix(&by_reference).is_none_or(is_digest));
    }

    async fn slot<T>(slots: &Slots<T>, key: String) -> Arc<Mutex<Option<Cached<T>>>> {
        slots.lock().await.entry(key).or_default().clone()
    }

    /// The cached value for `key`, or the one `lookup` finds, which is then cached.
    async fn cached<T: Clone>(
        &self,
        slots: &Slots<T>,
        key: String,
        lifetime: Option<Duration>,
        lookup: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let slot = Self::slot(slots, key).await;
        let mut entry = slot.lock().await;
        if let Some(cached) = &*entry
            && cached
                .expires
                .is_none_or(|expires| expires > self.clock.now())
        {
            return Ok(cached.value.clone());
        }
        let value = lookup.await?;
        // The lifetime counts from the answer, not the question: a slow lookup still gets
        // its whole TTL.
        let expires = lifetime.map(|lifetime| {
            self.clock
                .now()
                .checked_add_signed(TimeDelta::from_std(lifetime).unwrap_or(TimeDelta::MAX))
                .unwrap_or(Timestamp::MAX_UTC)
        });
        *entry = Some(Cached {
            value: value.clone(),
            expires,
        });
        Ok(value)
    }
}

fn is_digest(reference: &str) -> bool {
    reference.parse::<Digest>().is_ok()
}

#[async_trait]
impl<R: Registry> Registry for CachingRegistry<R> {
    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        self.cached(
            &self.tags,
            repository.to_owned(),
            Some(self.ttl),
            self.inner.list_tags(repository),
        )
        .await
    }

    async fn resolve_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Digest, RegistryError> {
        self.cached(
            &self.digests,
            format!("{repository}@{reference}"),
            Some(self.ttl),
            self.inner.resolve_digest(repository, reference),
        )
        .await
    }

    async fn manifest(&self, repository: &str, reference: &str) -> Result<Manifest, RegistryError> {
        let lifetime = if is_digest(reference) {
            None
        } else {
            Some(self.ttl)
        };
        self.cached(
            &self.manifests,
            format!("{repository}@{reference}"),
            lifetime,
            self.inner.manifest(repository, reference),
        )
        .await
    }

    async fn tag_metadata(&self, repository: &str) -> Result<Vec<TagMetadata>, RegistryError> {
        self.cached(
            &self.metadata,
            repository.to_owned(),
            Some(self.ttl),
            self.inner.tag_metadata(repository),
        )
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use upkeep_versioning_core::ManualClock;

    use super::*;
    use crate::ErrorKind;

    /// Counts calls and answers slowly, so concurrent lookups overlap.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
        fail_first: bool,
    }

    #[async_trait]
    impl Registry for Counting {
        fn host(&self) -> &str {
            "counting.example"
        }
        async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.fail_first && call == 0 {
                return Err(RegistryError::new(
                    "counting.example",
                    Some(repository),
                    ErrorKind::Server {
                        status: 503,
                        message: String::new(),
                    },
                ));
            }
            Ok(vec![format!("{repository}-1.0")])
        }
        async fn resolve_digest(&self, _: &str, _: &str) -> Result<Digest, RegistryError> {
            unreachable!("not used")
        }
        async fn manifest(&self, _: &str, _: &str) -> Result<Manifest, RegistryError> {
            unreachable!("not used")
        }
        async fn tag_metadata(&self, _: &str) -> Result<Vec<TagMetadata>, RegistryError> {
            unreachable!("not used")
        }
    }

    #[tokio::test]
    async fn concurrent_identical_lookups_share_one_call() {
        let cache = Arc::new(CachingRegistry::new(Counting::default(), DEFAULT_TTL));
        let mut tasks = Vec::new();
        for deployment in 0..200 {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move {
                cache.list_tags(&format!("repo{}", deployment % 20)).await
            }));
        }
        for task in tasks {
            let tags = task.await.unwrap().unwrap();
            assert_eq!(tags.len(), 1);
        }
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 20);
        // Within the TTL, later lookups cost nothing.
        cache.list_tags("repo3").await.unwrap();
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn expired_entries_are_asked_again() {
        let cache = CachingRegistry::new(Counting::default(), Duration::ZERO);
        cache.list_tags("a").await.unwrap();
        cache.list_tags("a").await.unwrap();
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn entries_expire_when_the_clock_passes_the_ttl() {
        let start = Timestamp::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let cache =
            CachingRegistry::new(Counting::default(), DEFAULT_TTL).with_clock(clock.clone());
        let calls = || cache.inner().calls.load(Ordering::SeqCst);
        cache.list_tags("a").await.unwrap();
        clock.advance(TimeDelta::seconds(599));
        cache.list_tags("a").await.unwrap();
        assert_eq!(calls(), 1);
        clock.advance(TimeDelta::seconds(1));
        cache.list_tags("a").await.unwrap();
        assert_eq!(calls(), 2);
    }

    #[tokio::test]
    async fn a_forgotten_repository_is_asked_again_and_only_it() {
        let cache = CachingRegistry::new(Counting::default(), DEFAULT_TTL);
        cache.list_tags("a").await.unwrap();
        cache.list_tags("b").await.unwrap();
        cache.forget("a").await;
        cache.list_tags("a").await.unwrap();
        cache.list_tags("b").await.unwrap();
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let registry = Counting {
            fail_first: true,
            ..Counting::default()
        };
        let cache = CachingRegistry::new(registry, DEFAULT_TTL);
        assert!(cache.list_tags("a").await.is_err());
        assert_eq!(cache.list_tags("a").await.unwrap(), ["a-1.0"]);
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 2);
    }
}
