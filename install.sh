#!/usr/bin/env bash
# AppOS in one command on a Debian or Ubuntu server (as root):
#
#   bash install.sh
#
# Checks memory, the ports, Docker (installs the distribution's docker.io when it is missing),
# gets the image (a local one, a build from this checkout, or a pull), starts the AppOS container
# (restarted with the machine), waits until it answers /health and prints the URL and the admin
# password. Settings (environment):
#   APPOS_IMAGE        image to run (default appos/appos:latest; used as is when it exists locally)
#   APPOS_DATA         data folder on this server (default /var/lib/appos; mounted at the same path)
#   APPOS_CONTAINER    container name (default appos)
#   APPOS_PORT         console and API port (default 8080)     APPOS_GRPC_PORT   public gRPC (8081)
#   APPOS_PROXY_HTTP_PORT / APPOS_PROXY_HTTPS_PORT  the apps' proxy (80 / 443)
#   APPOS_ADMIN_PASSWORD  first start only; otherwise one is generated and printed
#   APPOS_MIN_RAM_MB   refuse to install below this much memory (default 1024)
#   APPOS_PUBLIC_HOST  the address printed in the URL (default: this server's first address)
#   APPOS_HEALTH_TIMEOUT  seconds to wait for /health (default 180)
set -euo pipefail

IMAGE="${APPOS_IMAGE:-appos/appos:latest}"
DATA="${APPOS_DATA:-/var/lib/appos}"
CONTAINER="${APPOS_CONTAINER:-appos}"
PORT="${APPOS_PORT:-8080}"
GRPC_PORT="${APPOS_GRPC_PORT:-8081}"
HTTP_PORT="${APPOS_PROXY_HTTP_PORT:-80}"
HTTPS_PORT="${APPOS_PROXY_HTTPS_PORT:-443}"
MIN_RAM_MB="${APPOS_MIN_RAM_MB:-1024}"
MIN_DOCKER="20.10"
HEALTH_TIMEOUT="${APPOS_HEALTH_TIMEOUT:-180}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { echo "==> $*"; }
fail() {
  echo "error: $*" >&2
  exit 1
}

# --- preconditions -------------------------------------------------------------------------------

check_root() {
  [ "$(id -u)" = 0 ] || fail "run this as root (sudo bash install.sh)"
}

check_memory() {
  local kib mib
  kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  mib=$((kib / 1024))
  if [ "$mib" -lt "$MIN_RAM_MB" ]; then
    fail "this server has ${mib} MiB of memory; AppOS needs at least ${MIN_RAM_MB} MiB (APPOS_MIN_RAM_MB)"
  fi
  say "memory: ${mib} MiB"
}

# Is something listening on TCP port $1 (any address, IPv4 or IPv6)? Reads /proc: needs no tools.
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v port="$hex" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[length(a)] == port) found = 1 }
    END { exit found ? 0 : 1 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

check_ports() {
  local spec port variable
  for spec in "$PORT:APPOS_PORT" "$GRPC_PORT:APPOS_GRPC_PORT" \
    "$HTTP_PORT:APPOS_PROXY_HTTP_PORT" "$HTTPS_PORT:APPOS_PROXY_HTTPS_PORT"; do
    port=${spec%%:*}
    variable=${spec#*:}
    if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -gt 65535 ]; then
      fail "$variable=$port is not a port number"
    fi
    [ "$port" = 0 ] && continue
    if port_in_use "$port"; then
      fail "port $port is already in use on this server (another web server?); free it or set $variable"
    fi
  done
  say "ports $PORT, $GRPC_PORT, $HTTP_PORT, $HTTPS_PORT are free"
}

version_at_least() { # $1 >= $2, dotted numbers
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

ensure_docker() {
  if ! command -v docker >/dev/null; then
    command -v apt-get >/dev/null || fail "Docker is not installed and this is not a Debian/Ubuntu system"
    say "installing Docker from the distribution (docker.io)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
  fi
  if ! docker version >/dev/null 2>&1; then
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl enable --now docker >/dev/null 2>&1 || true
    fi
  fi
  local server
  server=$(docker version --format '{{.Server.Version}}' 2>/dev/null) \
    || fail "the Docker engine does not answer (is dockerd running? systemctl start docker)"
  server=${server%%[-+]*}
  version_at_least "$server" "$MIN_DOCKER" || fail "Docker $server is too old; AppOS needs $MIN_DOCKER or newer"
  say "Docker engine $server"
}

# --- the image and the container -----------------------------------------------------------------

ensure_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "image $IMAGE (local)"
  elif [ -f "$HERE/Dockerfile" ] && [ -d "$HERE/services" ]; then
    say "building $IMAGE from $HERE"
    docker build -t "$IMAGE" "$HERE"
  else
    say "pulling $IMAGE"
    docker pull "$IMAGE" || fail "could not get the image $IMAGE (set APPOS_IMAGE to a local one)"
  fi
}

check_container() {
  if docker container inspect "$CONTAINER" >/dev/null 2>&1; then
    fail "a container named $CONTAINER exists already; to reinstall: docker rm -f $CONTAINER (the data in $DATA stays)"
  fi
}

start_container() {
  mkdir -p "$DATA"
  chmod 0700 "$DATA"
  local -a env=(
    -e "APPOS_DATA=$DATA" -e "APPOS_HOST=0.0.0.0" -e "APPOS_PORT=$PORT" -e "APPOS_GRPC_PORT=$GRPC_PORT"
    -e "APPOS_PROXY_HTTP_PORT=$HTTP_PORT" -e "APPOS_PROXY_HTTPS_PORT=$HTTPS_PORT"
    # volume backups copy through a container of this same image (never started)
    -e "APPOS_BACKUP_HELPER_IMAGE=$IMAGE"
  )
  # passed by name: the password never appears on a command line
  [ -n "${APPOS_ADMIN_PASSWORD:-}" ] && env+=(-e APPOS_ADMIN_PASSWORD)
  say "starting container $CONTAINER (data in $DATA)"
  docker run -d --name "$CONTAINER" --restart unless-stopped --network host --stop-timeout 30 \
    -v /var/run/docker.sock:/var/run/docker.sock -v "$DATA:$DATA" "${env[@]}" "$IMAGE" >/dev/null
}

health_code() { # the HTTP status of GET /health, or nothing; plain bash, no curl needed
  # shellcheck disable=SC2016 # $1 is expanded by the inner bash
  timeout 6 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    IFS=" " read -r -t 5 _ code _ <&3 && echo "$code"' health "$PORT" 2>/dev/null || true
}

wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) state
  say "waiting for AppOS to answer on port $PORT"
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(health_code)" = 200 ] && return 0
    state=$(docker container inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null || echo gone)
    if [ "$state" != running ] && [ "$state" != created ]; then
      docker logs --tail 30 "$CONTAINER" >&2 || true
      fail "the AppOS container stopped ($state); its log is above"
    fi
    sleep 1
  done
  docker logs --tail 30 "$CONTAINER" >&2 || true
  fail "AppOS did not answer /health within ${HEALTH_TIMEOUT}s; logs: docker logs $CONTAINER, $DATA/log/"
}

print_login() {
  local host password_file="$DATA/admin-password"
  host="${APPOS_PUBLIC_HOST:-$(hostname -I 2>/dev/null | awk '{print $1}')}"
  echo
  echo "AppOS is running at http://${host:-127.0.0.1}:$PORT"
  if [ -s "$password_file" ]; then
    echo "user admin, password $(cat "$password_file")"
  elif [ -n "${APPOS_ADMIN_PASSWORD:-}" ]; then
    echo "user admin, password from APPOS_ADMIN_PASSWORD"
  else
    echo "user admin (the password was changed; the first one is no longer stored)"
  fi
  echo "Data: $DATA   Logs: docker logs $CONTAINER, $DATA/log/   Stop: docker stop $CONTAINER"
}

main() {
  check_root
  check_memory
  ensure_docker
  check_container
  check_ports
  ensure_image
  start_container
  wait_healthy
  print_login
}

main "$@"
