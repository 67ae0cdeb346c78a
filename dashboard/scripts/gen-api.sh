#!/bin/sh
# Regenerates the typed API client's inputs from the gateway's own OpenAPI document, offline
# (no running stack): src/api/openapi.json (committed) and src/api/schema.d.ts (committed).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
py="${APPOS_PYTHON:-$root/.venv/bin/python}"
(cd "$root" && "$py" "$here/scripts/dump_openapi.py" "$here/src/api/openapi.json")
cd "$here"
npx openapi-typescript src/api/openapi.json -o src/api/schema.d.ts
# Which optional pages the gateway's routes allow (read by src/lib/features.ts).
node -e '
const paths = require("./src/api/openapi.json").paths;
const features = {
  audit: "/api/v1/audit" in paths,
  backups: "/api/v1/backups" in paths,
  stats: "/api/v1/apps/{app}/stats" in paths,
  notifications: "/api/v1/notifications/targets" in paths,
  appOptions: "/api/v1/apps/{app}/options" in paths,
  policy: "/api/v1/apps/{app}/policy" in paths,
};
require("fs").writeFileSync("src/api/features.json", JSON.stringify(features, null, 2) + "\n");
'
