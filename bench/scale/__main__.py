"""``python -m bench.scale``: see bench/scale/__init__.py."""
import sys

from bench.scale.cli import main

if __name__ == '__main__':
    sys.exit(main())
