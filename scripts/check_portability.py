"""Files decoded across processes and CPU kernels, same latents: tfcomp/evaluation/portability.py."""
import sys

from tfcomp.evaluation.portability import main

if __name__ == "__main__":
    sys.exit(main())
