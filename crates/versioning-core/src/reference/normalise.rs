//! Docker's defaults and the one spelling of a name: which first component is a registry host,
//! Docker Hub and its aliases, the `library/` namespace of official images, lower-case hosts
//! and ports without leading zeros (see the [module documentation](super#normalisation)).
//!
//! Only rules on text already checked by the parser (`parse`); no checking, and no knowledge
//! of registry API endpoints or Docker's configuration.

use super::DOCKER_HUB;

/// Other spellings of Docker Hub that normalise to [`DOCKER_HUB`].
const HUB_ALIASES: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];

/// The namespace of Docker Hub's official images.
pub(super) const OFFICIAL_PREFIX: &str = "library/";

/// Docker's rule for telling a registry from a Hub namespace in the first component.
pub(super) fn is_host_like(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// Exactly 64 lower-case hex characters: what Docker refuses as a reference.
pub(super) fn is_image_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The registry's one spelling: `address` lower-cased, the port without its leading zeros, and
/// the Hub aliases replaced by [`DOCKER_HUB`].
pub(super) fn registry_name(address: &str, port: Option<u16>) -> String {
    let mut normalised = address.to_ascii_lowercase();
    if let Some(port) = port {
        normalised.push(':');
        normalised.push_str(&port.to_string());
    }
    if HUB_ALIASES.contains(&normalised.as_str()) {
        normalised = DOCKER_HUB.to_owned();
    }
    normalised
}

/// `registry/path`, with [`OFFICIAL_PREFIX`] before a Docker Hub path of one component
/// (`nginx` is `docker.io/library/nginx`).
pub(super) fn full_name(registry: String, path: &str) -> String {
    let official = registry == DOCKER_HUB && !path.contains('/');
    let mut full = registry;
    full.push('/');
    if official {
        full.push_str(OFFICIAL_PREFIX);
    }
    full.push_str(path);
    full
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::reference::test_support::*;

    #[test]
    fn canonical_and_short_forms() {
        let cases = [
            // Docker Hub official images.
            ("nginx", "docker.io/library/nginx:latest", "nginx"),
            (
                "nginx:latest",
                "docker.io/library/nginx:latest",
                "nginx:latest",
            ),
            ("nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"),
            ("library/nginx", "docker.io/library/nginx:latest", "nginx"),
            ("docker.io/nginx", "docker.io/library/nginx:latest", "nginx"),
            (
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.25",
                "nginx:1.25",
            ),
            (
                "index.docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.25",
                "nginx:1.25",
            ),
            (
                "index.docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx",
            ),
            (
                "registry-1.docker.io/library/redis:7",
                "docker.io/library/redis:7",
                "redis:7",
            ),
            ("Docker.IO/nginx", "docker.io/library/nginx:latest", "nginx"),
            ("nginx@{D}", "docker.io/library/nginx@{D}", "nginx@{D}"),
            (
                "nginx:1.25@{D}",
                "docker.io/library/nginx:1.25@{D}",
                "nginx:1.25@{D}",
            ),
            ("nginx@{E}", "docker.io/library/nginx@{E}", "nginx@{E}"),
            // Docker Hub user repositories.
            ("foo/bar", "docker.io/foo/bar:latest", "foo/bar"),
            (
                "bitnami/redis:7.2",
                "docker.io/bitnami/redis:7.2",
                "bitnami/redis:7.2",
            ),
            (
                "library/foo/bar",
                "docker.io/library/foo/bar:latest",
                "library/foo/bar",
            ),
            ("a/b/c/d", "docker.io/a/b/c/d:latest", "a/b/c/d"),
            // A Hub namespace that looks like a host keeps `docker.io/` in the short form.
            (
                "docker.io/foo.bar/app",
                "docker.io/foo.bar/app:latest",
                "docker.io/foo.bar/app",
            ),
            (
                "docker.io/localhost/app",
                "docker.io/localhost/app:latest",
                "docker.io/localhost/app",
            ),
            // A repository that is all hex keeps `library/`, so the short form is no image id.
            ("library/{H}", "docker.io/library/{H}:latest", "library/{H}"),
            // Separators.
            ("my_app", "docker.io/library/my_app:latest", "my_app"),
            ("my__app", "docker.io/library/my__app:latest", "my__app"),
            ("a--b", "docker.io/library/a--b:latest", "a--b"),
            ("a.b-c_d", "docker.io/library/a.b-c_d:latest", "a.b-c_d"),
            ("foo.bar", "docker.io/library/foo.bar:latest", "foo.bar"),
            // Other registries.
            ("localhost/foo", "localhost/foo:latest", "localhost/foo"),
            (
                "localhost:5000/foo/bar:tag",
                "localhost:5000/foo/bar:tag",
                "localhost:5000/foo/bar:tag",
            ),
            (
                "127.0.0.1:5000/x",
                "127.0.0.1:5000/x:latest",
                "127.0.0.1:5000/x",
            ),
            (
                "ghcr.io/owner/repo:v1.2.3",
                "ghcr.io/owner/repo:v1.2.3",
                "ghcr.io/owner/repo:v1.2.3",
            ),
            (
                "quay.io/org/app@{D}",
                "quay.io/org/app@{D}",
                "quay.io/org/app@{D}",
            ),
            (
                "public.ecr.aws/x/y",
                "public.ecr.aws/x/y:latest",
                "public.ecr.aws/x/y",
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
            ),
            ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x"),
            ("[::1]/x:1", "[::1]/x:1", "[::1]/x:1"),
            (
                "[FE80::1]:443/x",
                "[fe80::1]:443/x:latest",
                "[fe80::1]:443/x",
            ),
            (
                "GHCR.io/owner/app",
                "ghcr.io/owner/app:latest",
                "ghcr.io/owner/app",
            ),
            (
                "localhost:05000/x",
                "localhost:5000/x:latest",
                "localhost:5000/x",
            ),
            ("ghcr.io/app", "ghcr.io/app:latest", "ghcr.io/app"),
            (
                "docker.io:443/nginx",
                "docker.io:443/nginx:latest",
                "docker.io:443/nginx",
            ),
            (
                "my-registry.example.com:8443/team/app:2024.01.15",
                "my-registry.example.com:8443/team/app:2024.01.15",
                "my-registry.example.com:8443/team/app:2024.01.15",
            ),
            // Without a `/`, a `:` starts the tag, as in Docker.
            (
                "localhost:5000",
                "docker.io/library/localhost:5000",
                "localhost:5000",
            ),
            ("ghcr.io", "docker.io/library/ghcr.io:latest", "ghcr.io"),
            // Tags.
            ("nginx:_x", "docker.io/library/nginx:_x", "nginx:_x"),
            (
                "nginx:1.25.3-Alpine_3.19",
                "docker.io/library/nginx:1.25.3-Alpine_3.19",
                "nginx:1.25.3-Alpine_3.19",
            ),
        ];
        let hex_name = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (input, canonical, short) in cases {
            let with_hex = |text: &str| text.replace("{H}", hex_name);
            assert_forms(&with_hex(input), &with_hex(canonical), &with_hex(short));
        }
    }
}
