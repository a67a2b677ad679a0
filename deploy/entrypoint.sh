#!/bin/sh
# The container's entrypoint: apply migrations, then serve (SIGTERM reaches the server).
# With arguments, it runs that sessionkeeper command instead:
#   podman run --rm -v sk-data:/var/lib/sessionkeeper IMAGE key create --operator
set -eu
if [ "$#" -gt 0 ]; then
    exec sessionkeeper "$@"
fi
# A migration that fails stops here, before the server takes traffic.
sessionkeeper migrate
exec sessionkeeper serve
