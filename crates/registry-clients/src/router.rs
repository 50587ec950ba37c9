//! Picks the client for an image reference's host and keeps one per host, so every lookup
//! of a registry shares its cache, its token cache and its politeness limits.
//!
//! # What this module does not do
//! It does not read credential files itself: a [`CredentialSource`] answers for each host.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use upkeep_versioning_core::reference::{DOCKER_HUB, ImageRef};

use crate::Registry;
use crate::cache::{CachingRegistry, DEFAULT_TTL};
use crate::credentials::Credential;
use crate::error::{ErrorKind, RegistryError};
use crate::oci::OciRegistry;
use crate::transport::{Transport, TransportConfig, http_client};

/// Where Docker Hub's registry API is served (registry-reference §3.1).
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
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            transport: TransportConfig::default(),
            ttl: DEFAULT_TTL,
        }
    }
}

/// One client per registry host, made on first use.
pub struct RegistryRouter {
    config: Arc<TransportConfig>,
    ttl: Duration,
    http: reqwest::Client,
    credentials: Arc<dyn CredentialSource>,
    clients: Mutex<BTreeMap<String, Arc<CachingRegistry<OciRegistry>>>>,
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
            http,
            credentials,
            clients: Mutex::default(),
        })
    }

    /// The client for the image's registry.
    pub async fn registry_for(&self, image: &ImageRef) -> Result<Arc<dyn Registry>, RegistryError> {
        Ok(self.client(image.registry()).await?)
    }

    /// The client for a registry host as written in image references.
    pub async fn client(
        &self,
        host: &str,
    ) -> Result<Arc<CachingRegistry<OciRegistry>>, RegistryError> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(host) {
            return Ok(client.clone());
        }
        let api_host = if host == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            host
        };
        let credential = self.credentials.credential(host).await?;
        let transport = Transport::new(host, self.http.clone(), self.config.clone());
        let client = Arc::new(CachingRegistry::new(
            OciRegistry::new(host, api_host, transport, credential),
            self.ttl,
        ));
        clients.insert(host.to_owned(), client.clone());
        Ok(client)
    }

    /// HTTP requests sent to each host so far, retries included.
    pub async fn requests_sent(&self) -> BTreeMap<String, u32> {
        self.clients
            .lock()
            .await
            .iter()
            .map(|(host, client)| (host.clone(), client.inner().transport().requests_sent()))
            .collect()
    }
}
