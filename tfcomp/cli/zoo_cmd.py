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
    """Prints one row per model (default marked with *), or JSON."""
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
    print(f"{'':2}{'name':24}{'architecture':14}{'decoder':10}{'N':>5}{'lambda':>9}"
          f"{'Kodak bpp':>11}{'PSNR':>8}{'MS-SSIM':>9}{'steps, all stages':>19}")
    for m in models:
        config, kodak = m["config"], m.get("kodak", {})
        print(f"{'*' if m['name'] == default else '':2}{m['name']:24}{m['architecture']:14}"
              f"{config.get('decoder', '-'):10}{config.get('num_filters', 0):>5}{config.get('lmbda', 0):>9g}"
              f"{kodak.get('bpp', float('nan')):>11.3f}{kodak.get('psnr', float('nan')):>8.2f}"
              f"{kodak.get('ms_ssim', float('nan')):>9.4f}{sum(s['steps'] for s in zoo.training_stages(m)):>19,}")
    if not models:
        print("(no shipped models found)")
    return 0
