"""``python -m bench.dhcp``: see bench/dhcp/__init__.py."""
import sys

from bench.dhcp.cli import main

if __name__ == '__main__':
    sys.exit(main())
