"""Every shipped decoder in TFLite's four modes, checked on Kodak against its TF decoder: tfcomp/export/tflite_kodak.py."""
import sys

from tfcomp.export.tflite_kodak import main

if __name__ == "__main__":
    sys.exit(main())
