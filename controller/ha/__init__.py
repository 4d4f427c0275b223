"""Controller failover: leader election through an etcd lease, OpenFlow roles.

    roles     pure: the election's outcome, generation ids, one connection's role
    leases    the etcd requests an election makes (over controller.store's client)
    election  the lease / create-if-absent / keep-alive state machine (a thread)
    keeper    roles on the switches, following the election
    failover  the two together, as the app starts them

Without `--election` (and without an etcd:// topology) there is no election:
the controller is the only one, never sends a role request, and writes as
it always did.
"""
from controller.ha.failover import EventLeadership, Failover, check_options, election_url
from controller.ha.roles import Outcome

__all__ = ['EventLeadership', 'Failover', 'Outcome', 'check_options', 'election_url']
