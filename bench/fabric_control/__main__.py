import sys

from bench.fabric_control.cli import main

sys.exit(main())
