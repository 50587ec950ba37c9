#!/usr/bin/env bash
# Requests per second of the agent's `GET /health` against nginx serving a static file of the
# same size, both on loopback, measured by wrk with the same connections and duration.
#
# Usage: benches/health_vs_nginx.sh   (CONNECTIONS=16 THREADS=2 DURATION=10s by default)
#
# Installs Debian's wrk and nginx-light when missing (needs root or sudo), builds the agent in
# release mode, starts both, prints both rates and their ratio, and stops both. The agent
# needs the Docker Engine for /health to answer 200; without it the rate of 503s is measured,
# and a warning says so.
set -euo pipefail

CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
AGENT_PORT=${AGENT_PORT:-18686}
NGINX_PORT=${NGINX_PORT:-18687}

root=$(cd "$(dirname "$0")/.." && pwd)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

(cd "$root" && cargo build --release -q -p upkeep-agent)
agent="${CARGO_TARGET_DIR:-$root/target}/release/upkeep-agent"

work=$(mktemp -d)
agent_pid=""
nginx_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

wait_for() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "error: nothing answers at $1" >&2
    exit 1
}

printf 'listen: 127.0.0.1:%s\ndatabase: agent.db\nstate: state\n' "$AGENT_PORT" >"$work/agent.yaml"
"$agent" --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
wait_for "http://127.0.0.1:$AGENT_PORT/health"
status=$(curl -s -o "$work/health.json" -w '%{http_code}' "http://127.0.0.1:$AGENT_PORT/health")
[ "$status" = 200 ] || echo "warning: /health answers $status (is the Docker Engine running?)" >&2

# A static file of exactly the size of the agent's answer.
mkdir -p "$work/www"
head -c "$(wc -c <"$work/health.json")" /dev/zero | tr '\0' 'x' >"$work/www/health"
# nginx's workers run as another user when started by root: let them read the file.
chmod -R a+rX "$work"
cat >"$work/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events {}
http {
    access_log off;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $work/www;
        default_type application/json;
    }
}
CONF
"$nginx" -c "$work/nginx.conf" -p "$work" 2>>"$work/nginx-error.log" &
nginx_pid=$!
wait_for "http://127.0.0.1:$NGINX_PORT/health"
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/health")
[ "$status" = 200 ] || { echo "error: nginx answers $status; see $work/nginx-error.log" >&2; exit 1; }

rate() {
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$1" | tee "$work/wrk.txt" >/dev/null
    if grep -q 'Non-2xx' "$work/wrk.txt"; then
        echo "warning: $(grep 'Non-2xx' "$work/wrk.txt" | xargs) at $1" >&2
    fi
    awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt"
}

echo "wrk: $THREADS threads, $CONNECTIONS connections, $DURATION each; body $(wc -c <"$work/health.json") bytes"
agent_rate=$(rate "http://127.0.0.1:$AGENT_PORT/health")
nginx_rate=$(rate "http://127.0.0.1:$NGINX_PORT/health")
printf 'upkeep-agent GET /health  %12.0f requests/s\n' "$agent_rate"
printf 'nginx static file         %12.0f requests/s\n' "$nginx_rate"
awk -v a="$agent_rate" -v n="$nginx_rate" 'BEGIN { printf "ratio agent/nginx         %12.2f\n", a / n }'
