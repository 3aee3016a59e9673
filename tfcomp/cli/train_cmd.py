"""`tfcomp train`: train a registered model on an image folder/glob or a TFDS dataset."""
from __future__ import annotations

import argparse
import inspect
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb and its options."""
    p = sub.add_parser("train", help="train a model (resumable; TensorBoard logs in the work dir)",
                       description="Train a registered model. Killed runs resume from WORKDIR/backup.")
    p.add_argument("--architecture", "-a", default="bls2017", help="registered architecture (default: %(default)s)")
    p.add_argument("--lambda", dest="lmbda", type=float, default=0.01, help="rate-distortion trade-off")
    p.add_argument("--num-filters", "-N", type=int, default=128, help="filters per layer")
    p.add_argument("--decoder", default="baseline", help="decoder variant (bls2017: baseline, 2L, K3x3, 2L-K3x3, 2L-K9x9)")
    p.add_argument("--distortion", choices=("mse", "ms-ssim"), default="mse")
    p.add_argument("--hyper-filters", dest="num_hyper_filters", type=int, default=None,
                   help="bmshj2018: filters of the hyperprior transforms (default: N)")
    p.add_argument("--transforms", choices=("bmshj2018", "bls2017"), default="bmshj2018",
                   help="bmshj2018: the paper's transforms, or bls2017's so a factorized model can warm-start it")
    p.add_argument("--widths", type=_numbers(int), help="slimcae: comma-separated widths, widest first "
                                                       "(default: 192,144,96,72,48)")
    p.add_argument("--lambdas", type=_numbers(float), help="slimcae: one lambda per width (default: seed 001's)")
    p.add_argument("--gdn", choices=("switchable", "slimmable", "modulated"), default="switchable",
                   help="slimcae: GDN variant (default: %(default)s)")
    p.add_argument("--chroma-weight", type=float, default=0.0,
                   help="slimcae: weight of the CIELAB chroma-difference term (default: off)")
    p.add_argument("--lambda-schedule-steps", type=int, default=0,
                   help="slimcae: after training, seed 001's lambda scheduling with this many steps per try "
                        "(default: off)")
    p.add_argument("--train-data", required=True, help="image folder, glob, or tfds:NAME[:SPLIT]")
    p.add_argument("--val-data", help="validation images (same forms)")
    p.add_argument("--no-downsample", dest="downsample", action="store_false",
                   help="do not halve images before cropping (keep for non-JPEG sources)")
    p.add_argument("--patch", type=int, default=128, help="crop size")
    p.add_argument("--batch", type=int, default=8, help="global batch size")
    p.add_argument("--steps", type=int, default=10000, help="total optimizer steps")
    p.add_argument("--steps-per-epoch", type=int, default=500, help="steps between checkpoints")
    p.add_argument("--lr", type=float, default=5e-4, help="initial learning rate (cosine decay)")
    p.add_argument("--final-lr", type=float, default=5e-5, help="learning rate at the last step")
    p.add_argument("--init-from", help="warm start: a weights checkpoint (WORKDIR/weights/latest) or a shipped model "
                                       "directory; parts whose variable names and shapes match are copied")
    p.add_argument("--freeze", default="", help="comma-separated parts kept fixed, e.g. analysis_transform,prior")
    p.add_argument("--strategy", choices=("default", "mirrored", "multi-worker"), default="default",
                   help="tf.distribute strategy; multi-worker reads TF_CONFIG")
    p.add_argument("--logical-cpus", type=int, default=0, help="split the CPU into this many logical devices")
    p.add_argument("--workdir", required=True, help="checkpoints, backups and TensorBoard logs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export-only", action="store_true",
                   help="do not train: save WORKDIR's latest checkpoint (e.g. of a running job) to OUTPUT")
    p.add_argument("output", help="SavedModel directory to write (metadata.json goes inside)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Trains and prints the saved model's metadata."""
    from tfcomp.training.train import TrainConfig, export_checkpoint, train

    model_args = _model_args(args)
    config = TrainConfig(
        architecture=args.architecture, model_args=model_args, train_data=args.train_data,
        val_data=args.val_data, output=args.output, workdir=args.workdir, patch=args.patch,
        batch=args.batch, steps=args.steps, steps_per_epoch=args.steps_per_epoch,
        learning_rate=args.lr, final_learning_rate=args.final_lr, downsample=args.downsample,
        strategy=args.strategy, logical_cpus=args.logical_cpus, init_from=args.init_from, seed=args.seed,
        lambda_schedule_steps=args.lambda_schedule_steps,
        freeze=tuple(p for p in args.freeze.split(",") if p))
    print(json.dumps((export_checkpoint if args.export_only else train)(config), indent=2))
    return 0


def _model_args(args: argparse.Namespace) -> dict:
    """The options the chosen architecture's constructor takes (others do not apply to it)."""
    from tfcomp import registry

    given = dict(lmbda=args.lmbda, num_filters=args.num_filters, decoder=args.decoder,
                 distortion=args.distortion, transforms=args.transforms,
                 num_hyper_filters=args.num_hyper_filters or args.num_filters, widths=args.widths,
                 lambdas=args.lambdas, gdn=args.gdn, chroma_weight=args.chroma_weight)
    accepted = inspect.signature(registry.model_class(args.architecture).__init__).parameters
    return {k: v for k, v in given.items() if k in accepted and v is not None}


def _numbers(kind: type):
    """An argparse type for comma-separated numbers."""
    def parse(text: str) -> list:
        try:
            return [kind(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    return parse
