"""Image updates (issue 19), one module per job:

- `refs`: image references parsed as Docker parses them (registry, repository, tag, digest)
- `registry`: a read-only registry v2 client (HEAD of manifests, tag lists, the token flow)
- `tags`: a tag's shape, which tags are newer versions of it, and their kind
- `check`: one image's check (digest moved, newest patch/minor/major), `unknown` on failure

The package imports httpx: import it where a check runs, not at a service's start.
"""
