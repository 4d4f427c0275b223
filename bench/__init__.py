"""The benchmarks, each run as a module (``make bench`` runs all three):

* ``python -m bench.dataplane``: iperf3 through our pipeline vs a NORMAL bridge;
* ``python -m bench.dhcp``: DORA rate and latency, our responder vs dnsmasq;
* ``python -m bench.scale``: validate, compile, install and edit at 100 to 10,000 interfaces.

``bench.common`` (setup errors, progress, the environment check) and
``bench.stats`` (medians, percentiles, alternating rounds, CPU accounting)
are shared; the lab they build on is ``lab``, their big topologies come from
``lab.topogen``.
"""
