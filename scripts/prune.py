"""Pruned and channel-pruned bls2017 decoders, fine-tuned and measured on Kodak: tfcomp/export/prune_study.py."""
import sys

from tfcomp.export.prune_study import main

if __name__ == "__main__":
    sys.exit(main())
