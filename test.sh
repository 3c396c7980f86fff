#!/usr/bin/env bash
# The README's test command: installs the Debian packages the tests use (only the missing
# ones, so running it again installs nothing), then runs `cargo test --workspace` with any
# arguments given here (`./test.sh -p helios-cli`, `./test.sh -- --nocapture`).
#
# What the tests run besides the project's own binaries:
#   busybox-static  /bin/busybox: the test images are built from it (no registry is needed)
#   dnsmasq-base    /usr/sbin/dnsmasq: a real DNS server with SRV records (tests/lookup.rs)
#   strace          the fsync-before-answer test (tests/masters.rs)
#   docker-compose  the deploy/ compose cluster test (tests/deploy.rs)
#   procps          pkill, to stop a master started under strace
#   tar             the test images' root filesystems
# and a Docker engine this user may use, which this script checks but does not install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "test.sh: error: $*" >&2; exit 1; }

# "package file": the package is missing when its file is.
NEEDS=(
    "busybox-static /bin/busybox"
    "dnsmasq-base /usr/sbin/dnsmasq"
    "docker-compose /usr/bin/docker-compose"
    "procps /usr/bin/pkill"
    "strace /usr/bin/strace"
    "tar /bin/tar"
)
missing=()
for need in "${NEEDS[@]}"; do
    read -r pkg file <<<"$need"
    [[ -e "$file" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -gt 0 ]]; then
    command -v apt-get >/dev/null \
        || die "missing ${missing[*]}, and there is no apt-get here: install them by hand"
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null; then
        as_root=(sudo)
    else
        die "missing ${missing[*]}: run this as root, install sudo, or install them by hand"
    fi
    echo "test.sh: installing ${missing[*]}" >&2
    "${as_root[@]}" apt-get update -qq \
        || die "apt-get update failed"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi

command -v docker >/dev/null \
    || die "the tests need a Docker engine and its CLI (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 \
    || die "cannot reach the Docker engine: is it running, and may $(id -un) use it?"

exec cargo test --workspace "$@"
