"""Training-step time per filter count, with and without XLA: tfcomp/training/bench_step.py."""
import sys

from tfcomp.training.bench_step import main

if __name__ == "__main__":
    sys.exit(main())
