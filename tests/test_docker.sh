#!/usr/bin/env bash
# test_docker.sh: docker/Dockerfile really built, on a base this machine can make offline: a
# Debian 12 root made by debootstrap from the apt mirror the machine uses, imported as an image,
# given as both stages' base (the only lines that differ from the default nvidia/cuda build).
# podman builds it with --isolation chroot; `podman run` fails in these sandboxes on a setrlimit
# restriction, so the built image's filesystem is mounted (`podman image mount`) and
# `facerec info` and the demo run in it by chroot, as the image's user with its environment.
# Checked: the demo's answers, no compiler in the runtime image; reported: its size.
#
# Cached within one CI run only (CI machines are fresh): debootstrap's .debs and the imported
# base under $FACEREC_BUILD_DIR/docker-cache, and the host's apt archives, mounted into the
# build so the packages the set-up already downloaded here are not downloaded again (same
# mirror, same suites: the host's apt sources are the root's). Labelled heavy.
set -euo pipefail
src="${FACEREC_SOURCE_DIR:?}"
cache="${FACEREC_BUILD_DIR:?}/docker-cache"
[ "$(id -u)" = 0 ] || { echo "skipped: building images needs root"; exit 77; }
for tool in podman debootstrap; do
    command -v "$tool" > /dev/null || { echo "skipped: no $tool (scripts/setup.sh --tests)"; exit 77; }
done
mirror="${FACEREC_DEBIAN_MIRROR:-$( (sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null;
    awk '$1 == "deb" {print $2}' /etc/apt/sources.list 2>/dev/null || true) | grep -v security | head -1)}"
base="localhost/facerec-debian12:bookworm"
image="localhost/facerec:test-$$"
tmp="$(mktemp -d)"
mnt=""
cleanup() {
    if [ -n "$mnt" ]; then
        umount "$mnt/proc" "$mnt/dev" "$mnt/tmp" 2> /dev/null || true
        podman image unmount "$image" > /dev/null 2>&1 || true
    fi
    podman rmi -f "$image" > /dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
check() { # check DESCRIPTION CONDITION
    if ( eval "$2" ); then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi
}
seconds() { date +%s; }
t0="$(seconds)"

# ---- the base: Debian 12 by debootstrap, with this machine's apt sources ----------------------
if ! podman image exists "$base"; then
    mkdir -p "$cache/debs"
    echo "debootstrap: bookworm from $mirror"
    debootstrap --variant=minbase --cache-dir="$cache/debs" bookworm "$tmp/root" "$mirror" \
        > "$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log"; exit 1; }
    # the same sources and network settings (proxy, snapshot validity) as the host's apt
    rm -f "$tmp/root/etc/apt/sources.list"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && cp "$f" "$tmp/root$f"
    done
    for f in /etc/apt/apt.conf.d/*; do
        if grep -q '^Acquire::' "$f" 2> /dev/null; then
            grep '^Acquire::' "$f" > "$tmp/root/etc/apt/apt.conf.d/90host-${f##*/}"
        fi
    done
    rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
    tar -C "$tmp/root" -c . | podman import --quiet - "$base" > /dev/null
    rm -rf "$tmp/root"
fi
t1="$(seconds)"

# ---- the image ---------------------------------------------------------------------------------
podman build --isolation chroot --layers=false --quiet -f "$src/docker/Dockerfile" \
    --build-arg BUILD_BASE="$base" --build-arg RUNTIME_BASE="$base" \
    --volume /var/cache/apt/archives:/var/cache/apt/archives \
    -t "$image" "$src" > "$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; exit 1; }
t2="$(seconds)"
size="$(podman image inspect --format '{{.Size}}' "$image")"
base_size="$(podman image inspect --format '{{.Size}}' "$base")"
echo "image: $((size / 1000000)) MB ($((base_size / 1000000)) MB of it the Debian 12 base)," \
     "base $((t1 - t0)) s, build $((t2 - t1)) s"

# ---- run it: the image's filesystem, its user and environment, by chroot -----------------------
mnt="$(podman image mount "$image")"
mount -t proc proc "$mnt/proc"
mount --bind /dev "$mnt/dev" && mount -o remount,bind,ro "$mnt/dev" # nothing in it can touch the host's
mount -t tmpfs -o mode=1777 tmpfs "$mnt/tmp" # the mounted image is read-only: a container's /tmp
user="$(podman image inspect --format '{{.Config.User}}' "$image")"
uid="$(awk -F: -v u="$user" '$1 == u {print $3 ":" $4}' "$mnt/etc/passwd")"
mapfile -t env < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$image" | grep .)
in_image() { chroot --userspec="$uid" "$mnt" /usr/bin/env -i "${env[@]}" HOME="/home/$user" "$@"; }

in_image facerec info > "$tmp/info.txt" 2>&1 || true
cat "$tmp/info.txt"
check "facerec info runs in the image, as $user ($uid): version, the CPU backend, the dlib weights" \
    'grep -q "facerec [0-9]" "$tmp/info.txt" && grep -qi "cpu" "$tmp/info.txt" &&
     grep -q "/opt/facerec/share/facerec/weights/dlib.frw" "$tmp/info.txt"'
in_image /opt/facerec/share/facerec/demo.sh > "$tmp/demo.txt" 2>&1 || true
tail -3 "$tmp/demo.txt"
check "the demo in the image: every John identified" \
    'grep -qE "^([0-9]+) of \1 identified correctly" "$tmp/demo.txt"'
compilers="$(find "$mnt/usr" "$mnt/opt" \( -name 'gcc*' -o -name 'g++*' -o -name cc -o -name c++ \
    -o -name 'clang*' -o -name nvcc -o -name cc1 -o -name 'x86_64-linux-gnu-gcc*' \) \
    \( -type f -o -type l \) 2> /dev/null | sed "s|^$mnt||" | grep -v '/share/' || true)"
check "no compiler in the runtime image${compilers:+: $compilers}" '[ -z "$compilers" ]'
check "no headers or static libraries of facerec's in it" \
    '[ ! -e "$mnt/opt/facerec/include" ] && [ ! -e "$mnt/opt/facerec/lib/libfacerec.a" ] &&
     [ -z "$(ls "$mnt/usr/include" 2> /dev/null)" ]'
exit $fail
