"""The SlimCAE chroma term's effect on the narrowest width's colour error: tfcomp/evaluation/chroma.py."""
import sys

from tfcomp.evaluation.chroma import main

if __name__ == "__main__":
    sys.exit(main())
