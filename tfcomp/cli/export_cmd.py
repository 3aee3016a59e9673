"""`tfcomp export`: a shipped model's decoder as TFLite files, or serving SavedModels."""
from __future__ import annotations

import argparse
import json
import os

from tfcomp.export import SAVEDMODEL_KINDS, TFLITE_MODES, TFLITE_TRAINED_MODES


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb and its two targets."""
    p = sub.add_parser("export", help="export a model as TFLite decoders or serving SavedModels",
                       description="Export a shipped model for deployment.")
    targets = p.add_subparsers(dest="target", metavar="TARGET", required=True)

    t = targets.add_parser("tflite", help="the decoder (synthesis transform) as .tflite files",
                           description="Write NAME.<mode>.tflite per mode and NAME.json (latent shape rule, "
                                       "quantization, operators and delegate checks, entropy tables, and what "
                                       "tflite/tfcdecode.py needs: side tables, NAME.fixed.bin networks).")
    t.add_argument("-m", "--model", default=None, help="shipped model or family (default: the zoo default)")
    t.add_argument("--width", type=int, default=None, help="width of a slimmable model (default: every width)")
    t.add_argument("--modes", default=",".join(TFLITE_MODES),
                   help=f"comma-separated modes (default: {','.join(TFLITE_MODES)}); also "
                        f"{','.join(TFLITE_TRAINED_MODES)}: full int8 after quantization-aware fine-tuning on the "
                        "BSDS500 training images ($TFCOMP_TRAIN_DATA), a few minutes per model")
    t.add_argument("--latent-shape", default=None, metavar="HxW",
                   help="fix the latent size (e.g. 32x48 for 512x768 images; NPU delegates want fixed shapes)")
    t.add_argument("-o", "--out", default="tflite", help="output folder (default: tflite)")
    t.add_argument("--tables-only", action="store_true",
                   help="rewrite an existing NAME.json's range-coding tables and the portable decoder's files, "
                        "keeping the .tflite files (refused if the synthesis changed)")
    t.set_defaults(run=run_tflite)

    s = targets.add_parser("savedmodel", help="a SavedModel for serving",
                           description="codec: compress/decompress signatures (needs tensorflow_compression). "
                                       "transforms: analysis/synthesis with stock TensorFlow ops only.")
    s.add_argument("-m", "--model", default=None, help="shipped model or family (default: the zoo default)")
    s.add_argument("--kind", choices=SAVEDMODEL_KINDS, default="codec", help="what to export (default: codec)")
    s.add_argument("--width", type=int, default=None, help="width of a slimmable model (default: widest)")
    s.add_argument("-o", "--out", required=True, help="output SavedModel directory")
    s.set_defaults(run=run_savedmodel)


def _model(name: str | None, width: int | None) -> tuple[str, list[int | None]]:
    """Path of a shipped model and the width indices to export."""
    from tfcomp.codecs import learned

    codec = learned.load(name)
    if not codec.widths:
        if width is not None:
            from tfcomp.errors import TfcompError

            raise TfcompError(f"{codec.model_name} is not a slimmable model (no --width)")
        return codec.path, [None]
    if width is None:
        return codec.path, list(range(len(codec.widths)))
    return codec.path, [learned.load(codec.model_name, width).width_index]


def _latent_shape(text: str | None) -> tuple[int | None, int | None]:
    from tfcomp.errors import TfcompError

    if text is None:
        return (None, None)
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise TfcompError(f"--latent-shape {text!r}: expected HxW, e.g. 32x48")
    return int(parts[0]), int(parts[1])


def run_tflite(args: argparse.Namespace) -> int:
    """Exports every requested width and mode; prints one line per file."""
    from tfcomp.errors import TfcompError

    modes = tuple(m for m in args.modes.split(",") if m)
    known = TFLITE_MODES + TFLITE_TRAINED_MODES
    unknown = sorted(set(modes) - set(known))
    if unknown or not modes:
        raise TfcompError(f"--modes: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    shape = _latent_shape(args.latent_shape)
    path, indices = _model(args.model, args.width)
    from tfcomp.export import tflite_export

    for index in indices:
        if args.tables_only:
            manifest = tflite_export.refresh(path, args.out, index)
            print(f"{os.path.join(args.out, manifest['name'] + '.json')}: tables and decoder section refreshed")
            continue
        manifest = tflite_export.export(path, args.out, index, modes, latent_shape=shape)
        for mode, entry in manifest["files"].items():
            ops = ", ".join(entry["operators"])
            print(f"{os.path.join(args.out, entry['file'])}: {entry['bytes']:,} bytes; {ops}")
        print(f"{os.path.join(args.out, manifest['name'] + '.json')}: app metadata")
        networks = manifest["decoder"].get("networks")
        if networks:
            print(f"{os.path.join(args.out, networks['file'])}: {networks['bytes']:,} bytes; fixed-point parameter "
                  "networks for tflite/tfcdecode.py")
    return 0


def run_savedmodel(args: argparse.Namespace) -> int:
    """Exports one SavedModel and prints what it contains."""
    path, indices = _model(args.model, args.width)
    from tfcomp.export import savedmodel

    summary = savedmodel.export(args.kind, path, args.out, indices[0] if args.width is not None else None)
    print(json.dumps(dict(summary, path=args.out)))
    return 0
