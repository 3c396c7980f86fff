#!/usr/bin/env bash
# The README's test command: installs the Debian packages the tests use (only the missing
# ones, so running it again installs nothing), then runs `cargo test --workspace` with any
# arguments given here (`./test.sh -p helios-cli`, `./test.sh -- --nocapture`).
#
# What the tests run besides the project's own binaries:
#   busybox-static  /bin/busybox: the test images are built from it (no registry is needed)
#   dnsmasq-base    /usr/sbin/dnsmasq: a real DNS server with SRV records (tests/lookup.rs)
#   bind9-dnsutils  dig, which queries the masters' own DNS (tests/dns.rs)
#   strace          the fsync-before-answer test (tests/masters.rs)
#   docker-compose  the deploy/ compose cluster test (tests/deploy.rs)
#   procps          pkill, to stop a master started under strace
#   tar             the test images' root filesystems
#   python3-pip     to install grpcio-tools (the typed Python gRPC client of
#                   tests/typed_grpc_client.rs) and schemathesis (tests/openapi.rs) with pip
# and a Docker engine this user may use, which this script checks but does not install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "test.sh: error: $*" >&2; exit 1; }

# "package file": the package is missing when its file is.
NEEDS=(
    "busybox-static /bin/busybox"
    "bind9-dnsutils /usr/bin/dig"
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
# Python and pip, to install grpcio-tools below (any python3 on the PATH will do).
command -v python3 >/dev/null || missing+=("python3")
python3 -m pip --version >/dev/null 2>&1 || missing+=("python3-pip")

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

# Python packages (pip), tried system-wide, then for this user, then past PEP 668:
#   grpcio-tools  Python's gRPC runtime and protoc plugin, for the typed Python client of
#                 tests/typed_grpc_client.rs
#   schemathesis  the API contract test against a live master (tests/openapi.rs)
pip_install() { # package, module that shows it is installed
    python3 -c "import $2" 2>/dev/null && return 0
    echo "test.sh: installing $1" >&2
    python3 -m pip install --quiet "$1" 2>/dev/null \
        || python3 -m pip install --quiet --user "$1" 2>/dev/null \
        || python3 -m pip install --quiet --user --break-system-packages "$1" \
        || die "cannot install $1 with pip (python3 -m pip install $1)"
}
pip_install grpcio-tools "grpc, grpc_tools"
pip_install schemathesis schemathesis

command -v docker >/dev/null \
    || die "the tests need a Docker engine and its CLI (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 \
    || die "cannot reach the Docker engine: is it running, and may $(id -un) use it?"

exec cargo test --workspace "$@"
