"""The election state machine against a fake etcd: one key, leases that
expire on a fake clock, a revision counter, and an on/off switch for
reachability (per controller, as a partition would have it)."""
import logging

import pytest

from controller.ha.election import Election
from controller.ha.leases import Holder, StoreUnavailable
from controller.ha.roles import Outcome


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class FakeEtcd:
    """Leases expire `ttl` s after their last renewal; keys go with them."""

    def __init__(self, clock):
        self.clock, self.revision = clock, 1
        self.leases = {}          # id -> expiry
        self.keys = {}            # key -> Holder
        self._ids = iter(range(1000, 10**6))

    def expire(self):
        for lease, until in list(self.leases.items()):
            if self.clock() >= until:
                del self.leases[lease]
                for key, h in list(self.keys.items()):
                    if h.lease == lease:
                        del self.keys[key]
                        self.revision += 1


class Client:
    """One controller's view of the fake etcd."""

    def __init__(self, etcd):
        self.etcd, self.reachable, self.ttls = etcd, True, {}

    def _check(self):
        if not self.reachable:
            raise StoreUnavailable('etcd at etcd://fake is unavailable')
        self.etcd.expire()

    def grant(self, ttl):
        self._check()
        lease = next(self.etcd._ids)
        self.ttls[lease] = ttl
        self.etcd.leases[lease] = self.etcd.clock() + ttl
        return lease

    def keepalive(self, lease):
        self._check()
        if lease not in self.etcd.leases:
            return -1
        self.etcd.leases[lease] = self.etcd.clock() + self.ttls[lease]
        return self.ttls[lease]

    def revoke(self, lease):
        self._check()
        self.etcd.leases[lease] = self.etcd.clock()
        self.etcd.expire()

    def holder(self, key):
        self._check()
        return self.etcd.keys.get(key)

    def claim(self, key, identity, lease):
        self._check()
        if key in self.etcd.keys:
            return False, self.etcd.keys[key]
        self.etcd.revision += 1
        self.etcd.keys[key] = Holder(identity, self.etcd.revision, lease)
        return True, self.etcd.keys[key]


def controller(etcd, name, ttl=3):
    seen = []
    client = Client(etcd)
    election = Election(client, '/vnet/leader', name, ttl, seen.append,
                        logging.getLogger('test'), clock=etcd.clock)
    return election, client, seen


@pytest.fixture
def etcd():
    return FakeEtcd(Clock())


def advance(etcd, seconds, *elections, step=0.25):
    """Run every election's rounds while `seconds` pass on the fake clock."""
    due = {id(e): etcd.clock() for e in elections}
    end = etcd.clock() + seconds
    while etcd.clock() < end:
        for e in elections:
            while due[id(e)] <= etcd.clock():
                due[id(e)] = etcd.clock() + e.step()
        etcd.clock.now += step


def test_the_first_controller_is_elected_with_the_keys_create_revision_as_generation(etcd):
    a, _, seen = controller(etcd, 'a')
    a.step()
    assert a.leading
    assert seen == [Outcome('a', etcd.keys['/vnet/leader'].create_revision, mine=True)]


def test_a_second_controller_follows_with_the_leaders_generation(etcd):
    a, _, _ = controller(etcd, 'a')
    b, _, seen = controller(etcd, 'b')
    a.step()
    b.step()
    assert not b.leading
    assert seen == [Outcome('a', a.outcome.generation)]


def test_a_leader_that_keeps_its_lease_alive_stays_leader(etcd):
    a, _, _ = controller(etcd, 'a')
    b, _, _ = controller(etcd, 'b')
    advance(etcd, 30, a, b)
    assert a.leading and not b.leading


def test_when_the_leader_dies_a_follower_takes_over_within_the_ttl_with_a_higher_generation(etcd):
    a, _, _ = controller(etcd, 'a')
    b, _, seen = controller(etcd, 'b')
    advance(etcd, 5, a, b)
    first = a.outcome.generation
    died = etcd.clock()
    while not b.leading:                 # a is dead: only b runs
        advance(etcd, 0.25, b)
    assert etcd.clock() - died <= a.ttl + b.poll + 0.25
    assert b.outcome.mine and b.outcome.generation > first
    assert seen[-1] == Outcome('b', b.outcome.generation, mine=True)


def test_a_leader_cut_off_from_etcd_steps_down_before_its_lease_can_expire(etcd):
    a, a_client, seen = controller(etcd, 'a')
    b, _, _ = controller(etcd, 'b')
    advance(etcd, 5, a, b)
    a_client.reachable = False
    lease_until = etcd.leases[a.lease]
    stepped_down_at = None
    while etcd.clock() < lease_until + 5:
        advance(etcd, 0.05, a, b, step=0.05)
        if stepped_down_at is None and not a.leading:
            stepped_down_at = etcd.clock()
        if b.leading:
            break
    assert stepped_down_at is not None and stepped_down_at < lease_until
    assert b.leading and b.outcome.generation > a.outcome.generation
    assert seen[-1] == Outcome(None, seen[0].generation)      # a: no leader known


def test_a_leader_whose_etcd_hiccups_briefly_resumes_with_the_same_generation(etcd):
    a, a_client, seen = controller(etcd, 'a', ttl=6)
    a.step()
    generation = a.outcome.generation
    a_client.reachable = False
    advance(etcd, 4.5, a)               # past the step-down deadline, before the lease ends
    assert not a.leading
    a_client.reachable = True
    advance(etcd, 1, a)
    assert a.leading and a.outcome.generation == generation
    assert [o.mine for o in seen] == [True, False, True]


def test_a_leader_whose_key_was_deleted_steps_down_and_campaigns_again(etcd):
    a, _, seen = controller(etcd, 'a')
    a.step()
    first = a.outcome.generation
    del etcd.keys['/vnet/leader']
    etcd.revision += 1
    advance(etcd, 2, a)
    assert a.leading and a.outcome.generation > first
    assert [o.mine for o in seen] == [True, False, True]


def test_a_follower_cut_off_from_etcd_knows_no_leader_and_never_leads(etcd):
    a, _, _ = controller(etcd, 'a')
    b, b_client, seen = controller(etcd, 'b')
    advance(etcd, 2, a, b)
    b_client.reachable = False
    advance(etcd, 10, a, b)
    assert a.leading and not b.leading
    assert seen[-1] == Outcome(None, a.outcome.generation)


def test_a_resigning_leader_hands_over_at_the_followers_next_read(etcd):
    a, _, _ = controller(etcd, 'a')
    b, _, _ = controller(etcd, 'b')
    advance(etcd, 2, a, b)
    a.resign()
    assert not a.leading and '/vnet/leader' not in etcd.keys
    b.step()
    assert b.leading


def test_only_one_of_three_controllers_ever_leads_at_a_time(etcd):
    trio = [controller(etcd, n) for n in 'abc']
    elections = [e for e, _, _ in trio]
    for round_ in range(6):
        advance(etcd, 4, *elections, step=0.1)
        assert sum(e.leading for e in elections) == 1
        leader = next(e for e in elections if e.leading)
        elections.remove(leader)           # the leader dies; a new one replaces it
        revived, _, _ = controller(etcd, f'r{round_}')
        elections.append(revived)


# -- which election, from the options ---------------------------------------------

def test_without_election_or_an_etcd_topology_there_is_no_election():
    from controller.ha import election_url
    assert election_url(None, 'topologies/default.yml') is None


def test_an_etcd_topology_alone_starts_no_election_since_each_agent_owns_its_switch():
    from controller.ha import election_url
    assert election_url(None, 'etcd://10.0.0.9:2379/vnet') is None
    assert election_url('off', 'etcd://10.0.0.9:2379/vnet') is None


def test_an_election_runs_where_it_is_asked_to_or_on_the_topology_store():
    from controller.ha import election_url
    url = election_url('store', 'etcd://10.0.0.9:2379,10.0.0.8:2379/vnet')
    assert url.endpoints == (('10.0.0.9', 2379), ('10.0.0.8', 2379)) and url.prefix == 'vnet'
    assert election_url('etcd://h:1/other', 'etcd://10.0.0.9:2379/vnet').prefix == 'other'


def test_an_election_on_the_store_needs_an_etcd_topology():
    from controller.ha import election_url
    with pytest.raises(ValueError, match='store.*etcd:// --topology'):
        election_url('store', 'topologies/default.yml')


def test_a_bad_election_option_names_the_option_and_what_is_wrong():
    from controller.ha import check_options
    with pytest.raises(ValueError, match=r'--election: .*no key prefix'):
        check_options('etcd://h:1', None, 2)
    with pytest.raises(ValueError, match=r'--election-ttl 0: at least 1 second'):
        check_options(None, None, 0)
