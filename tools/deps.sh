#!/usr/bin/env bash
# Installs what sipbridge needs from Debian 12's packages: `build` for building and running,
# `test` adds what the test suite uses. Run as root.
set -euo pipefail

build_pkgs=(
	gcc meson ninja-build pkg-config
	libsofia-sip-ua-dev libwebsockets-dev libspandsp-dev libconfig-dev libjansson-dev
	libsystemd-dev libspeexdsp-dev libssl-dev libsrtp2-dev liburing-dev libev-dev libwebsockets-evlib-ev
	sip-tester ca-certificates
)
test_pkgs=(
	python3 python3-pytest python3-pytest-timeout python3-pytest-xdist python3-websockets
	clang-format systemd iproute2 procps openssl curl
	kamailio
	clang libclang-rt-14-dev
)

pkgs=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
	pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Where systemd runs, the kamailio package starts its own service on port 5060 (the port of
# sipbridged's embedded default); the tests run their own Kamailio, so a freshly installed
# packaged one is stopped and disabled.
if [[ " ${missing[*]} " == *" kamailio "* ]] && [ -d /run/systemd/system ]; then
	systemctl disable --now kamailio.service >/dev/null 2>&1 || true
fi
