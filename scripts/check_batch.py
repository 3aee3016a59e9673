"""Batch compression against one call per file, and a killed batch restarted: tfcomp/evaluation/batch_check.py."""
import sys

from tfcomp.evaluation.batch_check import main

if __name__ == "__main__":
    sys.exit(main())
