"""The status page in headless Chromium, as a person sees it: a datapath
that loses its controller turns red, an interface added by an edit appears."""
import yaml

from lab import free_tcp_port, sh, wait_for
from lab.api import ApiClient, api_args
from tests.integration.browser import chromium
from tests.integration.scenarios import Scenario, gateway, vif

TOKEN = 'page-token-51c2'
RED = 'rgba(207, 34, 46, 1)'        # --bad in status.html
GREEN = 'rgba(26, 127, 55, 1)'      # --ok


def scenario(lab):
    return Scenario(
        lab, datapaths={'br0': {'dpid': 0xb1, 'tunnel_ip': '198.18.0.1'},
                        'br1': {'dpid': 0xb2, 'tunnel_ip': '198.18.0.2'}},
        networks={'net1': {'ipv4': '172.16.1.0/24'}, 'net2': {'ipv4': '172.16.2.0/24'}},
        interfaces={
            'vm1': vif(lab, 'net1', '52:54:00:00:0b:01', '172.16.1.1', 'br0', 'b1'),
            'vm2': vif(lab, 'net1', '52:54:00:00:0b:02', '172.16.1.2', 'br1', 'b2'),
            'vm3': vif(lab, 'net2', '52:54:00:00:0b:03', '172.16.2.3', 'br0', 'b3'),
            'net1-gw': gateway('net1', '52:54:00:74:01:fe', '172.16.1.254'),
            'net2-gw': gateway('net2', '52:54:00:74:02:fe', '172.16.2.254'),
        },
        route_links={'rl1': {'routes': [{'interface': 'net1-gw'}, {'interface': 'net2-gw'}]}})


def card(driver, name):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, f'[data-datapath="{name}"]')


def state_of(driver, name):
    """(class, the state word shown, its colour) of a datapath's card."""
    from selenium.webdriver.common.by import By
    c = card(driver, name)
    word = c.find_element(By.CSS_SELECTOR, '.state')
    return c.get_attribute('class'), word.text, word.value_of_css_property('color')


def test_the_page_shows_a_datapath_going_red_and_an_interface_appearing(lab, tmp_path):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    s = scenario(lab)
    port = free_tcp_port()
    s.write()
    for name in ('br0', 'br1'):
        s.make_bridge(name, port)
    s.make_host('vm1')
    token_file = lab.write('api-token', TOKEN + '\n')
    args, base = api_args(token_file=token_file)
    lab.controller(s.path, port=port, extra_args=args)
    api = ApiClient(base, TOKEN)
    api.wait_up()

    def shows(fn, what, timeout=10):
        """Wait until the page shows it: the page re-renders every second, so
        an element found a moment ago may be gone (stale) by now; look again."""
        def probe():
            try:
                return fn()
            except (NoSuchElementException, StaleElementReferenceException):
                return False
        wait_for(probe, timeout=timeout, interval=0.2, what=what)

    def text(css):
        return driver.find_element(By.CSS_SELECTOR, css).text

    with chromium() as driver:
        driver.get(base + '/')
        shows(lambda: state_of(driver, 'br0') == ('card connected', 'connected', GREEN),
              'br0 to show connected, in green', timeout=20)
        shows(lambda: state_of(driver, 'br1') == ('card connected', 'connected', GREEN),
              'br1 to show connected, in green', timeout=20)
        shows(lambda: 'tunnel to br1 (198.18.0.2): net1' in card(driver, 'br0').text,
              "br0's tunnel to br1")
        shows(lambda: 'net1 ↔ net2' in text('#links'), 'the route link')
        shows(lambda: text('[data-datapath="br0"] [data-interface="vm1"]').endswith('up'),
              "vm1's port to show up")

        sh(['ovs-vsctl', 'del-controller', s.bridges['br1'].name])
        shows(lambda: state_of(driver, 'br1') == ('card disconnected', 'disconnected', RED),
              'br1 to show disconnected, in red', timeout=20)
        assert api.get('/v1/datapaths/br0')['connected']
        shows(lambda: state_of(driver, 'br0')[1] == 'connected', 'br0 still connected')

        doc = dict(s.doc, interfaces=dict(s.doc['interfaces']))
        doc['interfaces']['vm5'] = vif(lab, 'net2', '52:54:00:00:0b:05', '172.16.2.5', 'br0', 'b5')
        status, body = api.put_topology(yaml.safe_dump(doc, sort_keys=False))
        assert status == 200, body
        row = '[data-datapath="br0"] [data-interface="vm5"]'
        shows(lambda: text(row).endswith('absent'), 'vm5 to appear under br0, not plugged in')
        shows(lambda: 'interfaces +vm5' in text('#changes'), 'the change in the last changes')

        vm1 = s.hosts['vm1']                  # claims an address not its own: dropped
        vm1.run('ip addr add 172.16.1.99/32 dev eth0; '
                'ip neigh replace 172.16.1.254 lladdr 52:54:00:74:01:fe dev eth0')
        spoof = vm1.popen(['ping', '-c', '12', '-w', '7', '-i', '0.5', '-I', '172.16.1.99',
                           '172.16.1.254'])
        drop = '[data-drop="spoofed_ipv4"].rising'
        shows(lambda: 'port security' in text(drop), 'the spoofed IPv4 drops to show rising',
              timeout=15)
        shot = tmp_path / 'status-page.png'             # kept by pytest (its last 3 runs)
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        print(f'status page screenshot: {shot}')
        spoof.wait(timeout=15)
