"""The shared lab: real Open vSwitch, network namespaces and processes for
tests, benchmarks and the demos (one implementation of each)."""
from lab.netlab import *  # noqa: F401,F403
from lab.netlab import __all__  # noqa: F401
