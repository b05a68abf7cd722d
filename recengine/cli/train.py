"""`recengine train ...`: train models on a dataset and register them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from recengine.cli.common import console, open_db, progress_bar
from recengine.cli.prose import Typer
from recengine.compatibility.recipes import DEFAULT_RECIPE, RECIPES
from recengine.compatibility.train import VARIANTS
from recengine.compatibility.warm_start import SPECS
from recengine.config import Settings
from recengine.training.checkpoints import export_checkpoint
from recengine.training.compatibility_recipe import NegativeMix
from recengine.training.jobs import check_params, train_from_params

Background = Annotated[bool, typer.Option(help="Queue a training job for a worker instead of training here.")]


def _train(params: dict[str, Any], what: str, background: bool) -> None:
    """Train here with a progress bar, or queue the same parameters as a ``train`` job."""
    settings = Settings()
    check_params(params)
    with open_db() as db:
        if background:
            from workers.app import create_app
            from workers.jobs import submit_job

            job = submit_job(db=db, kind="train", params=params, task=create_app())
            console.print(f"queued job {job.id}: `recengine jobs show {job.id}` follows it")
            return
        with progress_bar(f"training {what}") as progress:
            result = train_from_params(db=db, data_dir=settings.data_dir, params=params, progress=progress)
    console.print(f"model version {result['model_version_id']}: {result['checkpoint']} in {result['seconds']:.0f} s, "
                  f"{result['metrics']}")  # fmt: skip


app = Typer(help="Train models (checkpoints under the data dir, registered in model_versions).",
                  no_args_is_help=True)  # fmt: skip


def _shipped(option: str) -> str:
    return f"(default: the {DEFAULT_RECIPE} recipe's, {getattr(RECIPES[DEFAULT_RECIPE], option)})"


@app.command("compatibility")
def compatibility(
    variant: Annotated[str, typer.Option(help=f"One of {', '.join(VARIANTS)} (seed Table 2).")] = "full",
    dataset: Annotated[str, typer.Option(help="Dataset to train on.")] = "default",
    recipe: Annotated[
        str, typer.Option(help=f"Where the options not given come from: {', '.join(RECIPES)} (the paper's).")
    ] = DEFAULT_RECIPE,
    steps: Annotated[int | None, typer.Option(help=f"Optimisation steps {_shipped('steps')}.")] = None,
    batch_size: Annotated[int, typer.Option(help="Positives per step.")] = 64,
    lr: Annotated[float | None, typer.Option(help=f"Adam learning rate of F and M {_shipped('lr')}.")] = None,
    eval_every: Annotated[int | None, typer.Option(help=f"Validate every N steps {_shipped('eval_every')}.")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    user_lr: Annotated[
        float | None, typer.Option(help=f"Adam learning rate of θu (and of the discrete labels) {_shipped('user_lr')}.")
    ] = None,
    init_encoder: Annotated[
        str | None,
        typer.Option(help=f"Where F starts: {', '.join(SPECS)} {_shipped('init_encoder')}."),
    ] = None,
    freeze_conv: Annotated[
        bool | None,
        typer.Option(
            help=f"Keep F's warm-started conv stack fixed; train F's FC layers, M and θu on its cached "
            f"outputs {_shipped('freeze_conv')}."
        ),
    ] = None,
    lr_decay: Annotated[
        str, typer.Option(help="constant, or linear: every learning rate falls to 0 at the last step.")
    ] = "constant",
    tune_conv_blocks: Annotated[
        int, typer.Option(help="With --freeze-conv: the last N conv blocks train too (on the fixed ones' outputs).")
    ] = 0,
    user_steps: Annotated[
        int | None,
        typer.Option(
            help=f"Then train θu (or the labels) alone this many steps, F and M fixed, rate decaying "
            f"{_shipped('user_steps')}."
        ),
    ] = None,
    threads: Annotated[int, typer.Option(help="Intra-op threads (0: torch's default; 1 beside a busy process).")] = 0,
    random_negatives: Annotated[
        int | None,
        typer.Option(
            help=f"Random bottoms per step as Eq. 6 negatives {_shipped('random_negatives')}; the seed "
            "recipe's: the batch size."
        ),
    ] = None,
    in_batch_negatives: Annotated[
        bool, typer.Option(help="The batch's other bottoms are Eq. 6 negatives too (popularity-weighted).")
    ] = NegativeMix.in_batch,
    exclude_own: Annotated[
        bool, typer.Option(help="Never take a bottom the user wore in training as a negative.")
    ] = NegativeMix.exclude_own,
    eq7_weight: Annotated[
        float, typer.Option(help="Share of Eq. 7 (another user's outfit) negatives in the loss, 0..1.")
    ] = NegativeMix.eq7_weight,
    resume: Annotated[bool, typer.Option(help="Continue from this variant's checkpoint.")] = False,
    background: Background = False,
) -> None:
    """The personalised compatibility model (encoder F, metric M, θu); by default the shipped checkpoints' recipe."""
    if variant not in VARIANTS:
        raise typer.BadParameter(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    params = {"family": "compatibility", "variant": variant, "dataset": dataset, "recipe": recipe, "steps": steps,
              "batch_size": batch_size, "lr": lr, "eval_every": eval_every, "seed": seed, "resume": resume,
              "lr_decay": lr_decay, "user_lr": user_lr, "init_encoder": init_encoder, "freeze_conv": freeze_conv,
              "tune_conv_blocks": tune_conv_blocks, "user_steps": user_steps, "random_negatives": random_negatives,
              "in_batch_negatives": in_batch_negatives, "exclude_own": exclude_own, "eq7_weight": eq7_weight,
              "threads": threads}  # fmt: skip
    # Options left out are not sent: the job takes them from the recipe, and its record says which it was.
    _train({k: v for k, v in params.items() if v is not None}, f"compatibility/{variant}", background)


@app.command("designer")
def designer(
    variant: Annotated[str, typer.Option(help="One of full, no-theta, label, no-fm-g (seed Table 2).")] = "full",
    dataset: Annotated[str, typer.Option(help="Dataset to train on.")] = "default",
    compatibility_checkpoint: Annotated[
        Path | None, typer.Option(help="Start F, M and θu from this compatibility checkpoint (same user mode).")
    ] = None,
    steps: Annotated[int, typer.Option(help="Iterations of Algorithm 1.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Positives per iteration.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate of F, M, G and D.")] = 2e-4,
    eval_every: Annotated[int, typer.Option(help="Validate and draw a sample grid every N steps.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from this variant's checkpoint.")] = False,
    threads: Annotated[int, typer.Option(help="Intra-op threads (0: torch's default; 1 beside a busy process).")] = 0,
    lambda_fm_g: Annotated[float | None, typer.Option(help="λ1 of L_FM_G (default: the variant's).")] = None,
    background: Background = False,
) -> None:
    """The personalised designer (decoder G, real/fake discriminator D, fine-tuned F, M, θu; Algorithm 1)."""
    from recengine.designer.train import VARIANTS as DESIGNER_VARIANTS

    if variant not in DESIGNER_VARIANTS:
        raise typer.BadParameter(f"unknown variant {variant!r}; choose one of {', '.join(DESIGNER_VARIANTS)}")
    start = None if compatibility_checkpoint is None else str(compatibility_checkpoint.resolve())
    params = {"family": "designer", "variant": variant, "dataset": dataset, "steps": steps, "batch_size": batch_size,
              "lr": lr, "eval_every": eval_every, "seed": seed, "threads": threads, "resume": resume,
              "compatibility_checkpoint": start, "lambda_fm_g": lambda_fm_g}  # fmt: skip
    _train(params, f"designer/{variant}", background)
    console.print(f"samples in {Settings().checkpoints_dir / 'samples'}")


@app.command("embedder")
def embedder(
    steps: Annotated[int, typer.Option(help="Optimisation steps.")] = 1500,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 128,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    eval_every: Annotated[int, typer.Option(help="Validate every N steps.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    name: Annotated[str, typer.Option(help="Model version name.")] = "catalogue",
    background: Background = False,
) -> None:
    """The catalogue image network (retrieval embedding) on the served catalogue's labels."""
    params = {"family": "embedder", "name": name, "steps": steps, "batch_size": batch_size, "lr": lr,
              "betas": [0.9, 0.999], "eval_every": eval_every, "seed": seed}  # fmt: skip
    _train(params, "the catalogue embedder", background)


@app.command("inpainting")
def inpainting(
    variant: Annotated[str, typer.Option(help="dpconv (dilated partial convs) or pconv (all dilations 1).")] = "dpconv",
    # ~0.25 s per step at 2 threads on the development machine: about 17 minutes (seed: ~120k steps of 64).
    steps: Annotated[int, typer.Option(help="Iterations (one D and one G step each).")] = 4000,
    batch_size: Annotated[int, typer.Option(help="Photos per iteration (the seed: 64).")] = 16,
    lr: Annotated[float, typer.Option(help="Adam learning rate of G (the seed: 2e-4).")] = 2e-4,
    d_lr: Annotated[float | None, typer.Option(help="Adam learning rate of D (default: half of G's).")] = None,
    eval_every: Annotated[int, typer.Option(help="Validate and draw a sample grid every N steps.")] = 500,
    feature_net: Annotated[
        str, typer.Option(help="Style-loss features: embedder, embedder:PATH or vgg16:PATH (torchvision weights).")
    ] = "embedder",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    name: Annotated[str | None, typer.Option(help="Model version name (default: the variant).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from this run's checkpoint.")] = False,
    threads: Annotated[int, typer.Option(help="Intra-op threads (0: torch's default; 1 beside a busy process).")] = 0,
    background: Background = False,
) -> None:
    """Clothing inpainting with dilated partial convolutions (or the PConv baseline) on the served garments."""
    from recengine.inpainting.train import BETAS
    from recengine.inpainting.train import VARIANTS as INPAINT_VARIANTS

    if variant not in INPAINT_VARIANTS:
        raise typer.BadParameter(f"unknown variant {variant!r}; choose one of {', '.join(INPAINT_VARIANTS)}")
    params = {"family": "inpainting", "variant": variant, "steps": steps, "batch_size": batch_size, "lr": lr,
              "betas": list(BETAS), "d_lr": d_lr, "eval_every": eval_every, "feature_net": feature_net,
              "seed": seed, "threads": threads, "resume": resume, "name": name}  # fmt: skip
    _train(params, f"inpainting/{variant}", background)
    console.print(f"samples in {Settings().checkpoints_dir / 'samples'}")


@app.command("export")
def export(
    source: Annotated[Path, typer.Argument(help="A checkpoint written by training.")],
    target: Annotated[Path, typer.Argument(help="Where to write the copy.")],
) -> None:
    """Copy a checkpoint without its optimiser state (about a third of the size): the file to ship."""
    sha = export_checkpoint(source, target)
    console.print(f"{target} ({target.stat().st_size / 1e6:.1f} MB, sha256 {sha[:12]})")
