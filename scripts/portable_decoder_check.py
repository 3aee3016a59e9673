"""The portable decoder (tflite/tfcdecode.py) on Kodak and fuzzed: tfcomp/export/portable_check.py."""
import sys

from tfcomp.export.portable_check import main

if __name__ == "__main__":
    sys.exit(main())
