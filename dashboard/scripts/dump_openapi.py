"""Writes the gateway's OpenAPI document (as /openapi.json serves it) to the path given."""

import json
import sys

from services.gateway.app import openapi_document

with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(openapi_document(), out, indent=2, sort_keys=True)
    out.write("\n")
