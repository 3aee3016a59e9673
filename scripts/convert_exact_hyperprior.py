"""Converts a bmshj2018 model's float hyper-synthesis to the fixed-point one: tfcomp/training/exact_hyperprior.py."""
import sys

from tfcomp.training.exact_hyperprior import main

if __name__ == "__main__":
    sys.exit(main())
