"""The shallow per-image autoencoder on Kodak beside JPEG q90: tfcomp/evaluation/shallow_eval.py."""
import sys

from tfcomp.evaluation.shallow_eval import main

if __name__ == "__main__":
    sys.exit(main())
