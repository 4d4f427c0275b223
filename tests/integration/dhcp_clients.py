"""Real DHCP clients in lab hosts, reporting what they got without touching
the machine's /etc/resolv.conf (their stock scripts would)."""
import os
import time

ENV_DUMP = """#!/bin/sh
# called by udhcpc/dhclient: record the event and every variable it was given
{ echo "event=${1:-$reason}"; env | sort; echo ---; } >> "%s"
"""


_runs = iter(range(1, 1 << 30))


def client_script(lab, host):
    """A script for one client run, and the file its events go to."""
    run = next(_runs)
    out = lab.path(f'{host.name}-dhcp-{run}.env')
    script = lab.write(f'{host.name}-dhcp-{run}.sh', ENV_DUMP % out)
    os.chmod(script, 0o755)
    return script, out


def parse_events(path):
    """[(event, {var: value}), ...] in the order the client reported them."""
    if not os.path.exists(path):
        return []
    events, current = [], {}
    for line in open(path).read().splitlines():
        if line == '---':
            events.append((current.pop('event', ''), current))
            current = {}
        elif '=' in line:
            key, _, value = line.partition('=')
            current[key] = value
    return events


def udhcpc_once(lab, host, timeout=6):
    """One udhcpc run (-n -q): returns its bound environment or None."""
    script, out = client_script(lab, host)
    host.run(f'udhcpc -i eth0 -n -q -f -t 3 -T 1 -A 1 -s {script}', check=False, timeout=timeout)
    bound = [env for event, env in parse_events(out) if event == 'bound']
    return bound[-1] if bound else None


def dhclient_once(lab, host, timeout=15):
    """One dhclient run (-1): returns the new_* variables of its lease or None."""
    script, out = client_script(lab, host)
    lease, pid = lab.path(f'{host.name}.leases'), lab.path(f'{host.name}.dhclient.pid')
    host.run(f'timeout {timeout} dhclient -1 -v -sf {script} -lf {lease} -pf {pid} eth0',
             check=False, timeout=timeout + 5)
    if os.path.exists(pid):
        host.run(f'kill $(cat {pid})', check=False)
    good = [env for event, env in parse_events(out) if event in ('BOUND', 'REBOOT', 'RENEW')]
    return good[-1] if good else None


def wait_for_event(path, event, timeout=10, after=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for e in parse_events(path)[after:] if e[0] == event]
        if events:
            return events[-1][1]
        time.sleep(0.1)
    return None
