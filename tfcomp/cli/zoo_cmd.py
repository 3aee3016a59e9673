"""`tfcomp zoo`: list the shipped models."""
from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb."""
    p = sub.add_parser("zoo", help="list the shipped models", description="List the shipped models.")
    p.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Prints one row per model and version (the default marked with *), or JSON."""
    from tfcomp import zoo
    from tfcomp.errors import TfcompError

    models = zoo.list_models()
    try:
        default = zoo.default_model()
    except TfcompError:
        default = None
    if args.json:
        print(json.dumps([dict(m, default=m["name"] == default) for m in models], indent=2))
        return 0
    print(f"{'':2}{'name':24}{'version':>8}  {'architecture':13}{'decoder':9}{'N':>5}{'lambda or quality':>19}"
          f"{'Kodak bpp':>11}{'PSNR':>8}{'MS-SSIM':>9}{'steps, all stages':>19}")
    for m in models:
        config, kodak = m["config"], _kodak_point(m)
        print(f"{'*' if m['name'] == default else '':2}{m['name']:24}{zoo.version(m):>8}  {m['architecture']:13}"
              f"{config.get('decoder', '-'):9}{config.get('num_filters') or max(config.get('widths') or [0]):>5}{_rate_setting(m):>19}"
              f"{_measured(kodak, 'bpp', '.3f'):>11}{_measured(kodak, 'psnr', '.2f'):>8}"
              f"{_measured(kodak, 'ms_ssim', '.4f'):>9}{sum(s['steps'] for s in zoo.training_stages(m)):>19,}")
    if not models:
        print("(no shipped models found)")
    return 0


def _rate_setting(metadata: dict) -> str:
    """What sets a model's rate: its lambda, its widths' lambdas, or a variable-rate model's quality range."""
    from tfcomp import zoo

    qualities = zoo.quality_range(metadata)
    if qualities:
        return f"-q {qualities[0]:g}..{qualities[1]:g}"
    config = metadata["config"]
    if "lambdas" in config:
        return f"{len(config['lambdas'])} widths"
    return f"{config.get('lmbda', 0):g}"


def _kodak_point(metadata: dict) -> dict:
    """The model's Kodak point: its own, or a variable-rate model's at its default quality."""
    curve = {point["quality"]: point for point in metadata.get("kodak_curve", [])}
    return metadata.get("kodak") or curve.get(metadata.get("default_quality"), {})


def _measured(record: dict, key: str, spec: str) -> str:
    """A Kodak figure of the model's metadata, or a dash where none is recorded (slimmable models)."""
    return format(record[key], spec) if key in record else "–"
