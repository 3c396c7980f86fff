#!/bin/sh
# Prints the first admin API token of the compose cluster (deploy/docker-compose.yml).
#
#   deploy/admin-token.sh [PROJECT] > ~/.helios/admin-token    # PROJECT: docker-compose -p (helios)
#
# The member that created the token keeps it in its data volume, at
# /var/lib/helios-master/admin-token (mode 0600); the images have no shell, so it is copied out
# with `docker cp`. Keep it like a password: it can do anything, including creating the
# read and deploy tokens that people and CI should use instead (POST /tokens).
set -u
project=${1:-helios}
compose_file="$(dirname "$0")/docker-compose.yml"
for member in master1 master2 master3; do
    id=$(docker-compose -p "$project" -f "$compose_file" ps -q "$member" 2>/dev/null)
    [ -n "$id" ] || continue
    token=$(docker cp "$id:/var/lib/helios-master/admin-token" - 2>/dev/null | tar -xO 2>/dev/null)
    if [ -n "$token" ]; then
        printf '%s\n' "$token"
        exit 0
    fi
done
echo "admin-token.sh: no master of compose project '$project' holds the first admin token yet" \
    "(is the cluster up and ready? curl -s 127.0.0.1:5801/readyz)" >&2
exit 1
