//! Picks the client for an image reference's host and keeps one per host, so every lookup
//! of a registry shares its cache, its token cache and its politeness limits.
//!
//! Every host gets the OCI client; Docker Hub adds its web API for tag metadata (push times
//! and digests) and Quay its v1 tag API; a private ECR host gets its registry password from
//! `GetAuthorizationToken` with the AWS credential chain, renewed before it expires; GHCR and
//! ECR Public need nothing beyond the OCI client's anonymous Bearer flow.
//!
//! # What this module does not do
//! It does not read Docker's credential files itself: a [`CredentialSource`] answers for each
//! host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use upkeep_versioning_core::Timestamp;
use upkeep_versioning_core::clock::{Clock, SystemClock};
use upkeep_versioning_core::reference::{DOCKER_HUB, Digest, ImageRef};
use url::Url;

use crate::cache::{CachingRegistry, DEFAULT_TTL};
use crate::credentials::Credential;
use crate::error::{ErrorKind, RegistryError};
use crate::hosted::ecr::{AwsSources, EcrClient, EcrHost, REFRESH_MARGIN};
use crate::hosted::hub::{self, HubClient};
use crate::hosted::quay::{self, QuayClient};
use crate::oci::OciRegistry;
use crate::transport::{Transport, TransportConfig, http_client};
use crate::{Manifest, Registry, TagMetadata};

/// Where Docker Hub's registry API is served.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// Answers which credential to use for a registry host.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The credential for `host`, or `None` to go anonymous.
    async fn credential(&self, host: &str) -> Result<Option<Credential>, RegistryError>;
}

/// A fixed map of host to credential; for tests and for credentials given on the command
/// line.
#[derive(Debug, Default, Clone)]
pub struct StaticCredentials(pub BTreeMap<String, Credential>);

#[async_trait]
impl CredentialSource for StaticCredentials {
    async fn credential(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        Ok(self.0.get(host).cloned())
    }
}

/// Settings for a [`RegistryRouter`].
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The transport settings every client shares.
    pub transport: TransportConfig,
    /// How long answers about tags are cached.
    pub ttl: Duration,
    /// Where the hosted APIs are; tests point them at local servers.
    pub endpoints: Endpoints,
    /// Where AWS credentials come from for private ECR; `None` reads the process's
    /// environment and `~/.aws` when an ECR host is first used.
    pub aws: Option<AwsSources>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            transport: TransportConfig::default(),
            ttl: DEFAULT_TTL,
            endpoints: Endpoints::default(),
            aws: None,
        }
    }
}

/// The hosts and URLs of the hosted registries' APIs.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where a registry host's API is served, when not at the host itself: `docker.io` is
    /// served at `registry-1.docker.io`; a mirror or a test server can stand in for any host.
    pub api_hosts: BTreeMap<String, String>,
    /// Docker Hub's web API.
    pub docker_hub_web: Url,
    /// Quay's v1 API.
    pub quay_web: Url,
    /// ECR's API for every private ECR host, instead of its region's endpoint.
    pub ecr_api: Option<Url>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            api_hosts: BTreeMap::from([(DOCKER_HUB.to_owned(), DOCKER_HUB_API_HOST.to_owned())]),
            docker_hub_web: constant_url(hub::DEFAULT_BASE_URL),
            quay_web: constant_url(quay::DEFAULT_BASE_URL),
            ecr_api: None,
        }
    }
}

fn constant_url(text: &str) -> Url {
    // The constants are valid URLs; a test below parses each of them.
    Url::parse(text).unwrap_or_else(|_| unreachable!("constant URL {text} parses"))
}

/// A registry host's client: the OCI API for tags, digests and manifests, and the host's own
/// API for tag metadata where it has one.
pub struct HostClient {
    oci: OciRegistry,
    metadata: MetadataApi,
}

enum MetadataApi {
    None,
    DockerHub(HubClient),
    Quay(QuayClient),
}

impl HostClient {
    /// The OCI client underneath.
    pub fn oci(&self) -> &OciRegistry {
        &self.oci
    }
}

#[async_trait]
impl Registry for HostClient {
    fn host(&self) -> &str {
        self.oci.host()
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        self.oci.list_tags(repository).await
    }

    async fn resolve_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Digest, RegistryError> {
        self.oci.resolve_digest(repository, reference).await
    }

    async fn manifest(&self, repository: &str, reference: &str) -> Result<Manifest, RegistryError> {
        self.oci.manifest(repository, reference).await
    }

    async fn tag_metadata(&self, repository: &str) -> Result<Vec<TagMetadata>, RegistryError> {
        match &self.metadata {
            MetadataApi::DockerHub(hub) => hub.tag_metadata(repository).await,
            MetadataApi::Quay(quay) => quay.tag_metadata(repository).await,
            MetadataApi::None => self.oci.tag_metadata(repository).await,
        }
    }
}

struct RoutedClient {
    client: Arc<CachingRegistry<HostClient>>,
    /// When the client's credential stops working (ECR passwords live 12 hours).
    renew_at: Option<Timestamp>,
}

/// One client per registry host, made on first use.
pub struct RegistryRouter {
    config: Arc<TransportConfig>,
    ttl: Duration,
    endpoints: Endpoints,
    aws: Option<AwsSources>,
    http: reqwest::Client,
    credentials: Arc<dyn CredentialSource>,
    clock: Arc<dyn Clock>,
    clients: Mutex<BTreeMap<String, RoutedClient>>,
}

impl RegistryRouter {
    /// A router with `config`, asking `credentials` for each host's credential.
    pub fn new(
        config: RouterConfig,
        credentials: Arc<dyn CredentialSource>,
    ) -> Result<Self, RegistryError> {
        let http = http_client(&config.transport)
            .map_err(|error| RegistryError::new("(any)", None, ErrorKind::Transport(error)))?;
        Ok(Self {
            config: Arc::new(config.transport),
            ttl: config.ttl,
            endpoints: config.endpoints,
            aws: config.aws,
            http,
            credentials,
            clock: Arc::new(SystemClock),
            clients: Mutex::default(),
        })
    }

    /// Reads the time from `clock` instead of the system's, here (when an ECR password is
    /// due) and in every client the router makes (caches, tokens, `Retry-After` dates).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Forgets what the cache holds about `image`'s repository (see
    /// [`CachingRegistry::forget`]); nothing happens for a registry not asked yet.
    pub async fn forget(&self, image: &ImageRef) {
        let client = self
            .clients
            .lock()
            .await
            .get(image.registry())
            .map(|routed| routed.client.clone());
        if let Some(client) = client {
            client.forget(image.repository()).await;
        }
    }

    /// The client for the image's registry.
    pub async fn registry_for(&self, image: &ImageRef) -> Result<Arc<dyn Registry>, RegistryError> {
        Ok(self.client(image.registry()).await?)
    }

    /// The client for a registry host as written in image references.
    pub async fn client(
        &self,
        host: &str,
    ) -> Result<Arc<CachingRegistry<HostClient>>, RegistryError> {
        let now = self.clock.now();
        let mut clients = self.clients.lock().await;
        if let Some(routed) = clients.get(host)
            && routed.renew_at.is_none_or(|renew_at| renew_at > now)
        {
            return Ok(routed.client.clone());
        }
        let api_host = self
            .endpoints
            .api_hosts
            .get(host)
            .map_or(host, String::as_str);
        let (credential, renew_at) = match EcrHost::parse(host) {
            Some(ecr) => {
                let (credential, renew_at) = self.ecr_credential(&ecr, now).await?;
                (Some(credential), Some(renew_at))
            }
            None => (self.credentials.credential(host).await?, None),
        };
        let transport = Transport::new(host, self.http.clone(), self.config.clone())
            .with_clock(self.clock.clone());
        let metadata = match host {
            DOCKER_HUB => MetadataApi::DockerHub(
                HubClient::new(self.endpoints.docker_hub_web.clone(), self.http.clone())
                    .with_clock(self.clock.clone()),
            ),
            quay::REGISTRY => MetadataApi::Quay(
                QuayClient::new(self.endpoints.quay_web.clone(), host, self.http.clone())
                    .with_clock(self.clock.clone()),
            ),
            _ => MetadataApi::None,
        };
        let client = Arc::new(
            CachingRegistry::new(
                HostClient {
                    oci: OciRegistry::new(host, api_host, transport, credential),
                    metadata,
                },
                self.ttl,
            )
            .with_clock(self.clock.clone()),
        );
        clients.insert(
            host.to_owned(),
            RoutedClient {
                client: client.clone(),
                renew_at,
            },
        );
        Ok(client)
    }

    /// A private ECR host's registry password, from `GetAuthorizationToken`, and when to
    /// renew it.
    async fn ecr_credential(
        &self,
        ecr: &EcrHost,
        now: Timestamp,
    ) -> Result<(Credential, Timestamp), RegistryError> {
        let sources = self.aws.clone().unwrap_or_else(AwsSources::from_process);
        let aws = sources
            .credentials()
            .map_err(|error| RegistryError::new(&ecr.host, None, error.into()))?;
        let client = match &self.endpoints.ecr_api {
            Some(api) => EcrClient::new(api.clone(), &ecr.host, &ecr.region, self.http.clone()),
            None => EcrClient::for_host(ecr, self.http.clone()),
        };
        let token = client.authorization_token(&aws, now).await?;
        let margin = chrono::TimeDelta::from_std(REFRESH_MARGIN).unwrap_or_default();
        let renew_at = token.expires_at - margin;
        Ok((
            Credential::Basic {
                username: token.user.clone(),
                password: token.password.clone(),
            },
            renew_at,
        ))
    }

    /// HTTP requests sent to each host so far, retries included.
    pub async fn requests_sent(&self) -> BTreeMap<String, u32> {
        self.clients
            .lock()
            .await
            .iter()
            .map(|(host, routed)| {
                let sent = routed.client.inner().oci().transport().requests_sent();
                (host.clone(), sent)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_endpoints_parse() {
        let endpoints = Endpoints::default();
        assert_eq!(endpoints.docker_hub_web.as_str(), "https://hub.docker.com/");
        assert_eq!(endpoints.quay_web.as_str(), "https://quay.io/");
        assert_eq!(endpoints.api_hosts["docker.io"], "registry-1.docker.io");
    }
}
