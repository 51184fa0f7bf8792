#!/usr/bin/env bash
# Build the repository's Dockerfile with podman on a locally made Debian bookworm base, then run the
# smoke preset (`snakemake --cores all --config preset=smoke`) inside the image and check its tables.
# Needs root on a Debian/Ubuntu host (apt); no registry pulls: the base comes from debootstrap.
#
#   workflow/scripts/podman_smoke.sh
#
# Phases: deps (apt: podman runc debootstrap ...), base (debootstrap rootfs, reused if present),
# import (podman import -> mold-base), build (podman build of ./Dockerfile), run (smoke preset),
# check (tables exist; snakemake -n finds nothing left to do).
#
# Environment (all optional):
#   MOLD_IMAGE_WORKDIR   work dir for the rootfs and containers.conf   (default /tmp/mold-podman)
#   MOLD_BASE_IMAGE      base image tag                                  (default localhost/mold-base:bookworm)
#   MOLD_IMAGE_TAG       built image tag                                 (default localhost/mold:smoke)
#   MOLD_REBUILD_BASE=1  debootstrap and import again even if present
#   MOLD_SKIP_BUILD=1    reuse an existing MOLD_IMAGE_TAG
#   MOLD_DEBIAN_MIRROR   debootstrap mirror (default: the first bookworm URI of this machine's apt sources)
#   MOLD_DATA_MIRROR     a data mirror folder, mounted read-only at /mirror (default: none; the smoke
#                        preset reads no benchmark files, the run has only the results mount)
#   MOLD_SMOKE_RESULTS   host dir mounted at /mold/results               (default a new mktemp dir)
#   MOLD_BUILD_NETWORK   podman build --network (e.g. host)              (default: podman's default)
#   MOLD_RUN_NETWORK     podman run --network                            (default none: the run is offline)
#   MOLD_PIP_EXTRA_ARGS  PIP_EXTRA_ARGS build arg (default: find-links / extra-index-url of the host's
#                        local pip sources, each local dir mounted read-only into the build)
#   MOLD_TORCH_INDEX     TORCH_INDEX build arg (default: first local extra index, else the CPU index)
#   MOLD_PIP_CERT        CA bundle for pip in the build (default: host pip's `cert`, else $PIP_CERT;
#                        empty: none), mounted read-only and passed as --cert
#   MOLD_SMOKE_TABLES    tables the smoke preset must produce            (default "table1 table2")
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORKDIR=${MOLD_IMAGE_WORKDIR:-/tmp/mold-podman}
BASE_IMAGE=${MOLD_BASE_IMAGE:-localhost/mold-base:bookworm}
IMAGE_TAG=${MOLD_IMAGE_TAG:-localhost/mold:smoke}
MIRROR_DIR=${MOLD_DATA_MIRROR:-}
RUN_NETWORK=${MOLD_RUN_NETWORK:-none}
TABLES=${MOLD_SMOKE_TABLES:-table1 table2}
SUITE=bookworm
ROOTFS=$WORKDIR/rootfs-$SUITE

declare -a PHASES=()
T0=$SECONDS
phase_start() { PHASE=$1; PHASE_T=$SECONDS; echo; echo "=== phase $PHASE: start $(date -u +%H:%M:%S) ==="; }
phase_end() {
    local dt=$((SECONDS - PHASE_T))
    PHASES+=("$(printf '%-8s %5ds  %s' "$PHASE" "$dt" "${1:-}")")
    echo "=== phase $PHASE: ${dt}s ${1:-} ==="
}
show() { { printf '+'; printf ' %q' "$@"; echo; } >&2; }   # print the exact command, shell-quoted
run() { show "$@"; "$@"; }

need_root() { [ "$(id -u)" = 0 ] || { echo "run as root (apt, debootstrap, rootful podman)" >&2; exit 1; }; }
need_root
mkdir -p "$WORKDIR"

# ---------------------------------------------------------------- deps
phase_start deps
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
dpkg -s uidmap >/dev/null 2>&1 || missing+=(uidmap)
dpkg -s fuse-overlayfs >/dev/null 2>&1 || missing+=(fuse-overlayfs)
dpkg -s debian-archive-keyring >/dev/null 2>&1 || missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
    run apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
run podman --version
run runc --version | head -1
# A private containers.conf: runc as runtime, and no default ulimits (the workplace's kernel refuses
# podman's default RLIMIT_NOFILE settings). Nothing under /etc is changed.
cat > "$WORKDIR/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$WORKDIR/containers.conf
echo "CONTAINERS_CONF=$CONTAINERS_CONF:"; cat "$CONTAINERS_CONF"
phase_end "${missing[*]:-(all present)}"

# ---------------------------------------------------------------- base rootfs
phase_start base
if [ "${MOLD_REBUILD_BASE:-0}" = 1 ]; then run rm -rf "$ROOTFS" "$ROOTFS.done"; fi
if [ -f "$ROOTFS.done" ]; then
    phase_end "reused $ROOTFS"
    BASE_BUILT=0
else
    MIRROR=${MOLD_DEBIAN_MIRROR:-}
    if [ -z "$MIRROR" ]; then
        # deb822 sources: the URIs of the stanza whose Suites list $SUITE; one-line sources: `deb URI $SUITE ...`.
        MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$SUITE" '
            /^[[:space:]]*$/ { if (uri != "" && hit) { print uri; exit } uri = ""; hit = 0; next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
            END { if (uri != "" && hit) print uri }' | head -1)
    fi
    if [ -z "$MIRROR" ]; then
        MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }')
    fi
    echo "debootstrap mirror: ${MIRROR:-(debootstrap default)}"
    run rm -rf "$ROOTFS"
    run debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$ROOTFS" ${MIRROR:+"$MIRROR"}
    # The rest through apt inside the rootfs (debootstrap's own --include resolver misses virtual
    # packages such as python3.11-venv's python3.11-distutils).
    run cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    run mount -t proc proc "$ROOTFS/proc"
    trap 'umount "$ROOTFS/proc" 2>/dev/null || true' EXIT
    run chroot "$ROOTFS" apt-get update -q
    run chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends python3.11 python3.11-venv git
    run umount "$ROOTFS/proc"
    trap - EXIT
    run chroot "$ROOTFS" apt-get clean
    run rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin
    run chroot "$ROOTFS" python3.11 -c "import ensurepip, venv, ssl; print('python ok')"
    touch "$ROOTFS.done"
    BASE_BUILT=1
    phase_end "$(du -sh "$ROOTFS" | cut -f1) rootfs"
fi

# ---------------------------------------------------------------- import
phase_start import
if [ "$BASE_BUILT" = 0 ] && podman image exists "$BASE_IMAGE"; then
    phase_end "reused $BASE_IMAGE"
else
    echo "+ tar -C $ROOTFS -c . | podman import --change 'CMD [\"/bin/bash\"]' - $BASE_IMAGE" >&2
    tar -C "$ROOTFS" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE"
    phase_end "$BASE_IMAGE"
fi

# ---------------------------------------------------------------- build
# Local pip sources: the host's pip config (find-links, extra-index-url). Local directories are mounted
# read-only at the same path in the build so the same URLs work there; remote URLs pass through.
declare -a VOLS=()
add_vol() { local d=$1; [ -d "$d" ] || return 0; for v in "${VOLS[@]}"; do [ "$v" = "$d" ] && return 0; done; VOLS+=("$d"); }
pip_cfg() { python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.$1='\(.*\)'$/\1/p" | tr ' ' '\n' | awk 'NF && !seen[$0]++'; }
if [ -z "${MOLD_PIP_EXTRA_ARGS+x}" ]; then
    PIP_EXTRA_ARGS=""
    for fl in $(pip_cfg find-links); do
        PIP_EXTRA_ARGS+=" --find-links $fl"; add_vol "${fl#file://}"
    done
    FIRST_INDEX=""
    for ix in $(pip_cfg extra-index-url); do
        PIP_EXTRA_ARGS+=" --extra-index-url $ix"
        case $ix in
            file://*) p=${ix#file://}; add_vol "$(dirname "$p")"; FIRST_INDEX=${FIRST_INDEX:-$ix} ;;
        esac
    done
    PIP_EXTRA_ARGS=${PIP_EXTRA_ARGS# }
else
    PIP_EXTRA_ARGS=$MOLD_PIP_EXTRA_ARGS
    FIRST_INDEX=""
fi
# Any local dir named in explicit args is mounted too.
for tok in $PIP_EXTRA_ARGS ${MOLD_TORCH_INDEX:-}; do
    case $tok in
        file://*/simple|file://*/simple/) add_vol "$(dirname "${tok#file://}")" ;;
        file://*) add_vol "${tok#file://}" ;;
        /*) add_vol "$tok" ;;
    esac
done
TORCH_INDEX=${MOLD_TORCH_INDEX:-${FIRST_INDEX:-https://download.pytorch.org/whl/cpu}}
declare -a VOLARGS=()
for v in "${VOLS[@]}"; do VOLARGS+=(-v "$v:$v:ro"); done
# The host's CA bundle for pip (pip's `cert` setting or $PIP_CERT): where HTTPS to the registry goes
# through a TLS-inspecting proxy, the image's stock CA bundle would reject it.
PIP_HOST_CERT=${MOLD_PIP_CERT-$(pip_cfg cert | head -1)}
PIP_HOST_CERT=${PIP_HOST_CERT:-${PIP_CERT:-}}
if [ -n "$PIP_HOST_CERT" ] && [ -f "$PIP_HOST_CERT" ]; then
    VOLARGS+=(-v "$PIP_HOST_CERT:/etc/mold-host-ca.pem:ro")
    PIP_EXTRA_ARGS+=" --cert /etc/mold-host-ca.pem"
fi

phase_start build
if [ "${MOLD_SKIP_BUILD:-0}" = 1 ] && podman image exists "$IMAGE_TAG"; then
    phase_end "reused $IMAGE_TAG"
else
    run podman build --runtime runc \
        ${MOLD_BUILD_NETWORK:+--network "$MOLD_BUILD_NETWORK"} \
        "${VOLARGS[@]}" \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        --build-arg TORCH_INDEX="$TORCH_INDEX" \
        --build-arg PIP_EXTRA_ARGS="$PIP_EXTRA_ARGS" \
        -t "$IMAGE_TAG" -f "$REPO/Dockerfile" "$REPO"
    phase_end "$IMAGE_TAG $(podman image inspect --format '{{.Size}}' "$IMAGE_TAG" | awk '{printf "%.1f GB", $1/1e9}')"
fi
run podman run --rm --runtime runc --network none "$IMAGE_TAG" \
    python -c "import torch, transformers, snakemake, mold; print('torch', torch.__version__, 'transformers', transformers.__version__)"

# ---------------------------------------------------------------- run
if [ -z "${MOLD_SMOKE_RESULTS:-}" ]; then
    RESULTS=$(mktemp -d /tmp/mold-smoke-results.XXXXXX)
else
    RESULTS=$MOLD_SMOKE_RESULTS; mkdir -p "$RESULTS"
fi
declare -a DATAARGS=()
if [ -n "$MIRROR_DIR" ]; then
    DATAARGS=(-v "$(cd "$MIRROR_DIR" && pwd):/mirror:ro" -e MOLD_DATA_MIRROR=/mirror)
fi
declare -a RUNARGS=(--rm --runtime runc --network "$RUN_NETWORK"
    "${DATAARGS[@]}" -e HF_HUB_OFFLINE=1 -e HF_DATASETS_OFFLINE=1
    -v "$RESULTS:/mold/results")

phase_start run
run podman run "${RUNARGS[@]}" -e MOLD_PRESET=smoke "$IMAGE_TAG"   # the image's own command
phase_end "results in $RESULTS"

# ---------------------------------------------------------------- check
phase_start check
ok=1
for t in $TABLES; do
    for ext in md csv tex; do
        f=$RESULTS/smoke/$t.$ext
        if [ -s "$f" ]; then echo "found $f ($(wc -l < "$f") lines)"; else echo "MISSING $f"; ok=0; fi
    done
done
[ -s "$RESULTS/smoke/table1.md" ] && cat "$RESULTS/smoke/table1.md"
# A second, dry run in a fresh container on the same results must find nothing to do.
show podman run "${RUNARGS[@]}" "$IMAGE_TAG" snakemake -n --cores all --config preset=smoke
dry=$(podman run "${RUNARGS[@]}" "$IMAGE_TAG" snakemake -n --cores all --config preset=smoke 2>&1) || { echo "$dry"; ok=0; }
echo "$dry" | tail -3
echo "$dry" | grep -q "Nothing to be done" || { echo "dry run still has jobs to do"; ok=0; }
phase_end "$([ $ok = 1 ] && echo ok || echo FAILED)"

echo
echo "phase    time   detail"
printf '%s\n' "${PHASES[@]}"
echo "total    $((SECONDS - T0))s"
[ $ok = 1 ] || { echo "podman smoke check FAILED" >&2; exit 1; }
echo "podman smoke check OK: $IMAGE_TAG ran the smoke preset; tables in $RESULTS/smoke"
