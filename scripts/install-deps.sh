#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Install the Debian 12 packages aegis needs to build, run and test.
# Idempotent: does nothing (and needs no network) when all are present.
set -eu

BUILD_PKGS="make gcc clang llvm pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev
libyaml-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libcap-dev libpcap-dev"
RUN_PKGS="iproute2 util-linux procps"
TEST_PKGS="jq tcpdump xdp-tools nftables iputils-ping netcat-openbsd python3 ncat iperf3 fio curl"

want="$BUILD_PKGS $RUN_PKGS"
case "${1:-}" in
--test) want="$want $TEST_PKGS" ;;
"") ;;
*) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
