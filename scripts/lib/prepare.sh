# Shared by scripts/test and scripts/demo: installs the programs upkeep's tests and demo run
# and makes sure the Docker Engine answers. Source it; it defines functions only.

# Programs the registry tests run: Distribution 2.8, skopeo, umoci, htpasswd, openssl, the
# static busybox the Docker test images are made of, docker-compose, and the Docker Engine;
# and PostgreSQL, for the agent's store tests.
install_programs() {
  local missing=() program
  for program in docker-registry:docker-registry skopeo:skopeo umoci:umoci htpasswd:apache2-utils openssl:openssl busybox:busybox-static docker-compose:docker-compose docker:docker.io; do
    command -v "${program%%:*}" >/dev/null || missing+=("${program#*:}")
  done
  # The agent's store tests start their own PostgreSQL clusters; Debian keeps initdb and
  # pg_ctl off PATH, in /usr/lib/postgresql/VERSION/bin.
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  # The package may start its own service on :5000; the tests use their own instances.
  if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

# Starts dockerd when it is installed but not running (a fresh machine or container), and
# waits until it answers.
ensure_docker() {
  docker version >/dev/null 2>&1 && return 0
  if command -v systemctl >/dev/null && systemctl start docker >/dev/null 2>&1; then
    :
  elif command -v service >/dev/null && service docker start >/dev/null 2>&1; then
    :
  elif [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
    (dockerd >/var/log/upkeep-dockerd.log 2>&1 &)
  fi
  for _ in $(seq 1 30); do
    docker version >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "error: the Docker Engine does not answer (docker version); start dockerd" >&2
  return 1
}
