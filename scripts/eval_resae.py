"""The residual autoencoder on its own image sets, against JPEG: tfcomp/evaluation/resae_eval.py."""
import sys

from tfcomp.evaluation.resae_eval import main

if __name__ == "__main__":
    sys.exit(main())
