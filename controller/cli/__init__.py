"""vnetctl: the operator's command line, one module per subcommand."""
from controller.cli.main import main

__all__ = ['main']
