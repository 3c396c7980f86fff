#!/usr/bin/env bash
# Builds local Docker images of Helios from the project's own release binaries, FROM scratch:
# no base image is pulled, so this works without any registry.
#
#   deploy/build-images.sh                      # cargo build --release, then master + agent images
#   deploy/build-images.sh --cli                # also helios-cli:latest
#   deploy/build-images.sh --no-build --target-dir /path/to/target
#   deploy/build-images.sh --only master        # one image (master, agent or cli; repeatable)
#   deploy/build-images.sh --profile dev        # debug binaries (quicker to build; tests use it)
#
# Each image holds: the binary in /usr/local/bin, exactly the shared libraries `ldd` lists
# (dynamic loader included, at the paths the binary asks for), an empty sticky /tmp, a
# one-line /etc/nsswitch.conf (`hosts: files dns`, so the /etc/hosts Docker injects is read),
# /etc/passwd and /etc/group naming root and `helios` (uid/gid 10001), and the data
# directory owned by helios. The rootfs is a reproducible tar (fixed mtimes, numeric owners,
# sorted), so running the script again with unchanged binaries reuses Docker's build cache and
# yields the same image ids.
set -euo pipefail

HELIOS_UID=10001
HELIOS_GID=10001
TAG=latest
BUILD=1
TARGET_DIR=""
PROFILE=release
IMAGES=()
WANT_CLI=0

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF

Options:
  --no-build          do not run cargo; use binaries already in <target-dir>/<profile dir>
  --target-dir DIR    cargo target directory (default: \$CARGO_TARGET_DIR or <repo>/target)
  --profile NAME      cargo profile (default: release; dev takes <target-dir>/debug)
  --only NAME         build only this image: master, agent or cli (repeatable)
  --cli               also build helios-cli:$TAG
  --tag TAG           image tag (default: latest)
  -h, --help          this help
EOF
}

die() { echo "build-images: error: $*" >&2; exit 1; }
say() { echo "build-images: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --target-dir) [[ $# -ge 2 ]] || die "--target-dir needs a directory"; TARGET_DIR="$2"; shift ;;
        --target-dir=*) TARGET_DIR="${1#*=}" ;;
        --profile) [[ $# -ge 2 ]] || die "--profile needs a cargo profile"; PROFILE="$2"; shift ;;
        --profile=*) PROFILE="${1#*=}" ;;
        --only) [[ $# -ge 2 ]] || die "--only needs master, agent or cli"; IMAGES+=("$2"); shift ;;
        --only=*) IMAGES+=("${1#*=}") ;;
        --cli) WANT_CLI=1 ;;
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; TAG="$2"; shift ;;
        --tag=*) TAG="${1#*=}" ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

if [[ ${#IMAGES[@]} -eq 0 ]]; then
    IMAGES=(master agent)
    [[ $WANT_CLI -eq 1 ]] && IMAGES+=(cli)
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${TARGET_DIR:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}}"
# Cargo puts the dev (and test) profile's binaries in `debug`, every other profile's in a
# directory of its own name.
case "$PROFILE" in
    dev|test) PROFILE_DIR=debug ;;
    bench) PROFILE_DIR=release ;;
    *) PROFILE_DIR="$PROFILE" ;;
esac

for tool in docker ldd tar; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
done
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is it running, may this user use it?)"

# image name -> cargo package, binary, data directory
declare -A PKG=([master]=helios-master-raft [agent]=helios-agent [cli]=helios-cli)
declare -A BIN=([master]=helios-master [agent]=helios-agent [cli]=helios)
declare -A REF=([master]=helios-master [agent]=helios-agent [cli]=helios-cli)

for img in "${IMAGES[@]}"; do
    [[ -n "${PKG[$img]:-}" ]] || die "unknown image '$img' (expected master, agent or cli)"
done

if [[ $BUILD -eq 1 ]]; then
    command -v cargo >/dev/null || die "'cargo' is not installed (or use --no-build)"
    pkgs=()
    for img in "${IMAGES[@]}"; do pkgs+=(-p "${PKG[$img]}"); done
    say "cargo build --profile $PROFILE ${pkgs[*]} (target dir $TARGET_DIR)"
    (cd "$REPO_ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --profile "$PROFILE" "${pkgs[@]}") \
        || die "cargo build failed"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/helios-images.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Copies the binary's shared libraries (as ldd resolves them) into ROOTFS, each at the path
# the binary loads it from; symlinks are resolved so the image holds real files.
copy_libs() {
    local bin="$1" rootfs="$2" out lib
    if ! out="$(ldd "$bin" 2>&1)"; then
        if grep -qE 'not a dynamic executable|statically linked' <<<"$out"; then
            say "  $(basename "$bin") is statically linked: no libraries needed"
            return 0
        fi
        die "ldd $bin failed: $out"
    fi
    grep -q 'not found' <<<"$out" && die "ldd $bin: missing libraries:
$(grep 'not found' <<<"$out")"
    # `libx.so => /path (0x…)` lines and the loader's `/lib64/ld-… (0x…)` line; the vDSO
    # has no file and is skipped.
    while read -r lib; do
        [[ -n "$lib" ]] || continue
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
        chmod 0755 "$rootfs$lib"
        say "  + $lib"
    done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out" | sort -u)
    # The loader named in PT_INTERP must be present even if ldd printed it differently.
    if command -v readelf >/dev/null; then
        local interp
        interp="$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
        if [[ -n "$interp" && ! -e "$rootfs$interp" ]]; then
            mkdir -p "$rootfs$(dirname "$interp")"
            cp -L "$interp" "$rootfs$interp"
            chmod 0755 "$rootfs$interp"
            say "  + $interp (interpreter)"
        fi
    fi
}

build_image() {
    local img="$1" bin_name="${BIN[$1]}" ref="${REF[$1]}:$TAG"
    local bin="$TARGET_DIR/$PROFILE_DIR/$bin_name"
    [[ -x "$bin" ]] || die "$bin not found: build it (drop --no-build) or pass --target-dir"

    local ctx="$WORK/$img" rootfs="$WORK/$img/rootfs"
    mkdir -p "$rootfs"/{usr/local/bin,etc,tmp}
    say "image $ref from $bin"
    install -m 0755 "$bin" "$rootfs/usr/local/bin/$bin_name"
    copy_libs "$bin" "$rootfs"

    chmod 1777 "$rootfs/tmp"
    printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
    printf 'root:x:0:0:root:/root:/nonexistent\nhelios:x:%d:%d:helios:/home/helios:/nonexistent\n' \
        "$HELIOS_UID" "$HELIOS_GID" > "$rootfs/etc/passwd"
    printf 'root:x:0:\nhelios:x:%d:\n' "$HELIOS_GID" > "$rootfs/etc/group"
    chmod 0644 "$rootfs"/etc/{nsswitch.conf,passwd,group}

    local data="" user="$HELIOS_UID:$HELIOS_GID" env_lines="" expose="" cmd=""
    case "$img" in
        master)
            data=/var/lib/helios-master
            env_lines="ENV HELIOS_DATA_DIR=$data"
            expose="EXPOSE 5801 5802"
            ;;
        agent)
            data=/var/lib/helios-agent
            env_lines="ENV HELIOS_STATE_DIR=$data"
            # The agent drives the host's Docker engine (root-equivalent anyway), whose socket
            # is usually root:docker 0660; run as root by default. To run it as helios:
            # `--user 10001:10001 --group-add $(stat -c %g /var/run/docker.sock)`.
            user="0:0"
            ;;
        cli)
            data=/home/helios
            env_lines="ENV HOME=/home/helios USER=helios"
            ;;
    esac
    mkdir -p "$rootfs$data"
    chmod 0750 "$rootfs$data"
    chown -R 0:0 "$rootfs"
    chown "$HELIOS_UID:$HELIOS_GID" "$rootfs$data"

    # Reproducible tar: same binaries => same bytes => Docker's cache gives the same image.
    tar --sort=name --mtime='@0' --numeric-owner --format=gnu \
        -C "$rootfs" -cf "$ctx/rootfs.tar" .

    local version
    version="$("$bin" --version 2>/dev/null | awk '{print $NF}' | head -n1 || true)"
    cat > "$ctx/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
$env_lines
$expose
VOLUME ["$data"]
WORKDIR $data
USER $user
LABEL org.opencontainers.image.title="$ref" \\
      org.opencontainers.image.version="${version:-unknown}" \\
      org.opencontainers.image.source="helios (Rust)"
ENTRYPOINT ["/usr/local/bin/$bin_name"]
EOF
    # (The legacy builder is the one Debian's engine has; its deprecation notice is noise.)
    local log
    if ! log="$(DOCKER_BUILDKIT=0 docker build --quiet --tag "$ref" "$ctx" 2>&1)"; then
        die "docker build of $ref failed:
$log"
    fi

    # Smoke test: the binary must start inside the image (loader and libraries complete).
    local out
    if ! out="$(docker run --rm --network none "$ref" --version 2>&1)"; then
        die "$ref does not run: $out"
    fi
    say "built $ref ($(docker image inspect -f '{{.Id}}' "$ref" | cut -c8-19), $(docker image inspect -f '{{.Size}}' "$ref" | awk '{printf "%.1f MB", $1/1e6}')): $out"
}

for img in "${IMAGES[@]}"; do
    build_image "$img"
done
say "done: $(for img in "${IMAGES[@]}"; do printf '%s:%s ' "${REF[$img]}" "$TAG"; done)"
