"""Decode latency of every shipped model's TF and TFLite decoders beside Pillow's: tfcomp/export/bench_decode.py."""
import sys

from tfcomp.export.bench_decode import main

if __name__ == "__main__":
    sys.exit(main())
