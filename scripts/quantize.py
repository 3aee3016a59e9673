"""Post-training and quantization-aware int8 decoders of the shipped models on Kodak: tfcomp/export/qat_study.py."""
import sys

from tfcomp.export.qat_study import main

if __name__ == "__main__":
    sys.exit(main())
