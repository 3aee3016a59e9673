"""`tfcomp train`: train a registered model on an image folder/glob or a TFDS dataset."""
from __future__ import annotations

import argparse
import inspect
import json

from tfcomp.errors import TfcompError


# Values of the shared options for the Keras architectures when not given; the other systems' trainers
# bring their own (registry.TRAINERS).
KERAS_DEFAULTS = dict(steps=10000, steps_per_epoch=500, batch=8, lr=5e-4, seed=0)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers the verb and its options."""
    p = sub.add_parser("train", help="train a model (resumable; TensorBoard logs in the work dir)",
                       description="Train a registered model. Killed runs resume from WORKDIR/backup. "
                                   "Keras architectures: bls2017, bmshj2018, slimcae, ms2020vr (a SavedModel directory). "
                                   "Other systems: sdae, resae, resae-denoiser, klt (a model file; OUTPUT defaults "
                                   "to the file the codec loads). shallow trains on the image it compresses.")
    p.add_argument("--architecture", "-a", default="bls2017", help="registered architecture (default: %(default)s)")
    p.add_argument("--train-data", help="image folder, glob, or tfds:NAME[:SPLIT] (required for the Keras "
                                        "architectures; other systems: BSDS500 train)")
    p.add_argument("--val-data", help="validation images (same forms; sdae: BSDS500 val, '' for none)")
    p.add_argument("--steps", type=int, help="total optimizer steps (default: 10000; sdae: 20000)")
    p.add_argument("--steps-per-epoch", type=int, help="steps between checkpoints (default: 500; resae-denoiser: 50)")
    p.add_argument("--batch", type=int, help="global batch size (default: 8; sdae, resae: 16)")
    p.add_argument("--lr", type=float, help="initial learning rate (default: 5e-4, cosine decay; sdae: 1e-4; "
                                            "resae, resae-denoiser: 1e-3)")
    p.add_argument("--seed", type=int, help="random seed (default: 0)")
    p.add_argument("--workdir", help="checkpoints, backups and TensorBoard logs (required for the Keras "
                                     "architectures and sdae; resae: runs/resae/CONFIG)")
    p.add_argument("output", nargs="?", help="SavedModel directory (metadata.json goes inside) or model file")

    keras = p.add_argument_group("bls2017, bmshj2018, slimcae, ms2020vr")
    keras.add_argument("--lambda", dest="lmbda", type=float, default=0.01, help="rate-distortion trade-off")
    keras.add_argument("--num-filters", "-N", type=int, default=128, help="filters per layer")
    keras.add_argument("--decoder", default="baseline",
                       help="decoder variant (bls2017: baseline, 2L, K3x3, 2L-K3x3, 2L-K9x9)")
    keras.add_argument("--distortion", choices=("mse", "ms-ssim"), default="mse")
    keras.add_argument("--hyper-filters", dest="num_hyper_filters", type=int, default=None,
                       help="bmshj2018: filters of the hyperprior transforms (default: N)")
    keras.add_argument("--transforms", choices=("bmshj2018", "bls2017"), default="bmshj2018",
                       help="bmshj2018: the paper's transforms, or bls2017's so a factorized model can warm-start it")
    keras.add_argument("--widths", type=_numbers(int), help="slimcae: comma-separated widths, widest first "
                                                           "(default: 192,144,96,72,48)")
    keras.add_argument("--lambdas", type=_numbers(float), help="slimcae: one lambda per width (default: the SlimCAE "
                                                               "thesis's); ms2020vr: one per quality level, ascending")
    keras.add_argument("--slices", dest="num_slices", type=int, help="ms2020vr: latent slices coded in turn (default: 4)")
    keras.add_argument("--slice-filters", type=int, help="ms2020vr: filters of each slice's parameter network "
                                                         "(default: 128)")
    keras.add_argument("--donor-lambda", type=float, help="ms2020vr: lambda of the --init-from model, which sets "
                                                          "the initial gains (default: 0.035)")
    keras.add_argument("--gdn", choices=("switchable", "slimmable", "modulated"), default="switchable",
                       help="slimcae: GDN variant (default: %(default)s)")
    keras.add_argument("--chroma-weight", type=float, default=0.0,
                       help="slimcae: weight of the CIELAB chroma-difference term (default: off)")
    keras.add_argument("--lambda-schedule-steps", type=int, default=0,
                       help="slimcae: after training, the SlimCAE thesis's lambda scheduling with this many steps "
                            "per try (default: off)")
    keras.add_argument("--no-downsample", dest="downsample", action="store_false",
                       help="do not shrink images before cropping (keep for non-JPEG sources)")
    keras.add_argument("--downscale", type=float, default=0.5,
                       help="factor images shrink by before cropping, which removes JPEG blocking (default: "
                            "%(default)s)")
    keras.add_argument("--patch", type=int, default=128, help="crop size")
    keras.add_argument("--final-lr", type=float, default=5e-5, help="learning rate at the last step")
    keras.add_argument("--init-from", help="warm start: a weights checkpoint (WORKDIR/weights/latest) or a shipped "
                                           "model directory; parts whose variable names and shapes match are copied")
    keras.add_argument("--family", help="the ladder (RD curve) the model joins, recorded in its metadata (default: "
                                        "the architecture, plus -DECODER for a lighter decoder); a study at "
                                        "another width, e.g. bls2017-n192, stays off the shipped ladder")
    keras.add_argument("--freeze", default="", help="comma-separated parts kept fixed, e.g. analysis_transform,prior")
    keras.add_argument("--fit-hyperprior", action="store_true",
                       help="bmshj2018: train only the hyperprior, on cached latents of the transforms given by "
                            "--init-from (rate only: they stay frozen); use crops of 256 or more")
    keras.add_argument("--strategy", choices=("default", "mirrored", "multi-worker"), default="default",
                       help="tf.distribute strategy; multi-worker reads TF_CONFIG")
    keras.add_argument("--logical-cpus", type=int, default=0, help="split the CPU into this many logical devices")
    keras.add_argument("--export-only", action="store_true",
                       help="do not train: save WORKDIR's latest checkpoint (e.g. of a running job) to OUTPUT")

    sdae = p.add_argument_group("sdae (the SDAE project; then our coding's priors are fitted to the frozen encoder)")
    sdae.add_argument("--validation-steps", type=int, default=4, help="validation batches per epoch")
    sdae.add_argument("--prior-crops", type=int, default=4096, help="crops whose latents fit the priors")
    sdae.add_argument("--prior-steps", type=int, default=3000)
    sdae.add_argument("--prior-batch", type=int, default=16)
    sdae.add_argument("--prior-lr", type=float, default=1e-2)

    resae = p.add_argument_group("resae, resae-denoiser (the residual-autoencoder essay)")
    # The keys of tfcomp.models.resae.CONFIGS, spelled out: importing it would load TensorFlow for --help.
    resae.add_argument("--config", choices=("small", "base", "large", "xlarge"), default="small",
                       help="resae: configuration (default: %(default)s)")
    resae.add_argument("--epochs", type=int, help="resae: cap, the convergence rule may stop sooner (default: "
                                                  "2000); resae-denoiser: epochs (default: 20)")
    resae.add_argument("--period", type=int, default=100, help="resae: epochs between convergence checks (seed: 100)")
    resae.add_argument("--min-epochs", type=int, default=500, help="resae: the rule never stops before (seed: 500)")
    resae.add_argument("--image-size", type=int, help="resae: override the essay's 256 (tests)")
    resae.add_argument("--set-size", type=int, help="resae: override the configuration's image-set size (tests)")
    resae.add_argument("--no-int8", action="store_true", help="resae: skip the int8 conversion")
    resae.add_argument("--configs", default="small,base", help="resae-denoiser: configurations whose reconstructions "
                                                               "it learns from (default: %(default)s)")
    resae.add_argument("--model-dir", help="resae-denoiser: where the configurations' files are (default: beside "
                                           "OUTPUT)")
    resae.add_argument("--crop", type=int, default=64, help="resae-denoiser: crop size (default: %(default)s)")

    klt = p.add_argument_group("klt")
    klt.add_argument("--block", type=int, default=8, help="block side (default: %(default)s)")
    klt.add_argument("--blocks-per-image", type=int, default=2000, help="default: %(default)s")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Trains and prints the saved model's metadata (another system's trainer prints its own record)."""
    from tfcomp import registry

    if args.architecture in registry.TRAINERS:
        train_system, defaults = registry.trainer(args.architecture)
        _fill(args, defaults)
        return train_system(args)
    if args.architecture in registry.FILE_CODECS:
        raise TfcompError(f"{args.architecture} trains on the image it compresses: "
                          f"tfcomp compress -m {args.architecture} IMAGE")
    from tfcomp.training.train import TrainConfig, export_checkpoint, train

    _fill(args, KERAS_DEFAULTS)
    for option, value in (("--train-data", args.train_data), ("--workdir", args.workdir), ("OUTPUT", args.output)):
        if value is None:
            raise TfcompError(f"{option} is required to train {args.architecture}")
    model_args = _model_args(args)
    config = TrainConfig(
        architecture=args.architecture, model_args=model_args, train_data=args.train_data,
        val_data=args.val_data, output=args.output, workdir=args.workdir, patch=args.patch,
        batch=args.batch, steps=args.steps, steps_per_epoch=args.steps_per_epoch,
        learning_rate=args.lr, final_learning_rate=args.final_lr, downsample=args.downsample,
        downscale=args.downscale,
        strategy=args.strategy, logical_cpus=args.logical_cpus, init_from=args.init_from, seed=args.seed,
        lambda_schedule_steps=args.lambda_schedule_steps, fit_hyperprior=args.fit_hyperprior,
        freeze=tuple(p for p in args.freeze.split(",") if p), family=args.family)
    print(json.dumps((export_checkpoint if args.export_only else train)(config), indent=2))
    return 0


def _fill(args: argparse.Namespace, defaults: dict) -> None:
    """Sets the shared options the user left out to the architecture's defaults."""
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def _model_args(args: argparse.Namespace) -> dict:
    """The options the chosen architecture's constructor takes (others do not apply to it)."""
    from tfcomp import registry

    given = dict(lmbda=args.lmbda, num_filters=args.num_filters, decoder=args.decoder,
                 distortion=args.distortion, transforms=args.transforms,
                 num_hyper_filters=args.num_hyper_filters or args.num_filters, widths=args.widths,
                 lambdas=args.lambdas, gdn=args.gdn, chroma_weight=args.chroma_weight,
                 num_slices=args.num_slices, slice_filters=args.slice_filters, donor_lambda=args.donor_lambda)
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
