"""Peak memory on a 6000x4000 photograph, tiled against untiled coding: tfcomp/evaluation/large_image.py."""
import sys

from tfcomp.evaluation.large_image import main

if __name__ == "__main__":
    sys.exit(main())
