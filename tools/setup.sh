#!/bin/bash
# Bring a Debian 12 machine (root) to a working state: system packages, the
# project's virtualenv, Mininet visible in it, Open vSwitch running in
# userspace mode.  Idempotent: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES="openvswitch-switch mininet iproute2 iputils-ping arping ethtool iperf3
 udhcpc isc-dhcp-client tcpdump python3 python3-venv dnsmasq-base traceroute procps
 graphviz etcd-server etcd-client chromium chromium-driver docker.io busybox
 curl netcat-openbsd bind9-dnsutils"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The venv uses Debian's python3 so that Debian's Mininet package matches it.
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
    echo "setup: creating .venv"
    rm -rf .venv
    "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing ryu-vnet into .venv"
    .venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/pip install -q -e '.[test]'
    touch "$stamp"
fi
# Mininet comes from Debian; link only its package into the venv (not all of
# dist-packages, whose older libraries would shadow the venv's).
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -e "$site/mininet" ] || ln -s /usr/lib/python3/dist-packages/mininet "$site/mininet"

# Open vSwitch in userspace mode (no kernel module here): ovs-ctl skips it.
if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1 || ! pidof ovs-vswitchd >/dev/null; then
    echo "setup: starting Open vSwitch"
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null 2>&1 || true
    ovs-vsctl --timeout=10 show >/dev/null
fi
# Docker, for `vnetctl attach --docker` and its test.  Where no init system runs
# it, started by hand, leaving the machine's firewall and bridges alone (the
# tests' containers have --network none: vnetctl gives them their NIC).
if ! docker info >/dev/null 2>&1; then
    echo "setup: starting dockerd"
    setsid dockerd --iptables=false --ip6tables=false --bridge=none \
        >/var/log/dockerd.log 2>&1 </dev/null &
    for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null
fi
echo "setup: ok ($(ovs-vsctl --version | head -1), $(.venv/bin/python --version))"
