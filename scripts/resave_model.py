"""Re-saves a shipped model from its own weights, tables unchanged: tfcomp/training/resave.py."""
import sys

from tfcomp.training.resave import main

if __name__ == "__main__":
    sys.exit(main())
