"""The stacked denoising autoencoder (SDAE) on Kodak, its source's coding and ours: tfcomp/evaluation/sdae_eval.py."""
import sys

from tfcomp.evaluation.sdae_eval import main

if __name__ == "__main__":
    sys.exit(main())
