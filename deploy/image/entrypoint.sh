#!/bin/sh
# The AppOS image's entrypoint (under tini, PID 1). As root it only prepares what needs root:
#  - the user `appos` joins the group that owns the mounted Docker socket (whatever its gid is on
#    this host), so the programs reach the engine without being root;
#  - APPOS_DATA belongs to `appos` (apps' own files deeper in apps/<app>/ are left as they are);
# then it runs the command (the launcher: supervisord and every program) as `appos`, keeping only
# CAP_NET_BIND_SERVICE so Caddy can listen on 80/443. Started as another user (`docker run --user`),
# it runs the command as that user and changes nothing.
set -eu

APPOS_DATA="${APPOS_DATA:-/appos/data}"
SOCKET="${APPOS_DOCKER_SOCKET:-/var/run/docker.sock}"
USER_NAME=appos

fail() {
  echo "appos: $*" >&2
  exit 1
}

if [ ! -S "$SOCKET" ]; then
  fail "no Docker socket at $SOCKET: run the container with -v /var/run/docker.sock:/var/run/docker.sock"
fi

if [ "$(id -u)" != 0 ]; then
  exec "$@"
fi

gid=$(stat -c %g "$SOCKET")
group=$(getent group "$gid" | cut -d: -f1)
if [ -z "$group" ]; then
  groupadd --system --gid "$gid" docker-host
  group=docker-host
fi
id -nG "$USER_NAME" | tr ' ' '\n' | grep -qx "$group" || usermod -aG "$group" "$USER_NAME"

mkdir -p "$APPOS_DATA"
chmod 0700 "$APPOS_DATA"
# everything AppOS itself writes; files that app containers made inside apps/<app>/ keep their owner
find "$APPOS_DATA" -xdev \( -path "$APPOS_DATA/apps/*/*" ! -name compose.yaml ! -name .env -prune \) \
  -o ! -user "$USER_NAME" -exec chown -h "$USER_NAME:$USER_NAME" {} +

export HOME=/home/appos USER="$USER_NAME" LOGNAME="$USER_NAME"
exec setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups \
  --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
  --bounding-set=-all,+net_bind_service -- "$@"
