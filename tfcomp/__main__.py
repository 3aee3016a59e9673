"""`python -m tfcomp` runs the CLI."""
import sys

from tfcomp.cli.main import main

sys.exit(main())
