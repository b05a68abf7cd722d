"""The ``recengine`` command line; commands only parse arguments and call the library."""

from __future__ import annotations

import logging
from typing import Annotated, NoReturn

import typer

from recengine.cli import (
    cache,
    data,
    datasets,
    db,
    demo,
    evaluate,
    index,
    inpaint,
    keys,
    masks,
    models,
    ops,
    recommend,
    serve,
    train,
    users,
)
from recengine.cli.common import err_console
from recengine.cli.prose import Typer
from recengine.errors import RecengineError

app = Typer(
    help="recengine: generate-then-retrieve fashion recommendation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(data.import_app, name="import")
app.add_typer(data.catalogue_app, name="catalogue")
data.catalogue_app.add_typer(masks.app, name="masks")
app.add_typer(datasets.app, name="data")
app.add_typer(evaluate.app, name="evaluate")
app.add_typer(train.app, name="train")
app.add_typer(users.app, name="users")
app.add_typer(models.app, name="models")
app.add_typer(index.app, name="index")
app.add_typer(ops.jobs_app, name="jobs")
app.add_typer(keys.app, name="keys")
app.add_typer(cache.app, name="cache")
app.command("worker")(ops.worker)
app.command("demo")(demo.demo)
app.command("recommend")(recommend.recommend)
app.command("recommend-batch")(recommend.recommend_batch)
app.command("serve")(serve.serve)
app.command("inpaint")(inpaint.inpaint)


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    try:
        app()
    except RecengineError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise SystemExit(2) from None
    except UnicodeEncodeError as exc:
        if not _undecodable(exc):
            raise
        _not_utf8(exc)
    except OSError as exc:
        # A file or folder the command was pointed at cannot be used (an --out in a read-only place, a path
        # under a file): its name and the reason say all; the traceback is for --verbose.
        logging.getLogger(__name__).debug("the command failed on a file", exc_info=exc)
        where = f"{exc.filename}: " if exc.filename else ""
        err_console.print(f"[red]error:[/red] {where}{exc.strerror or exc}", highlight=False)
        raise SystemExit(1) from None


def _not_utf8(exc: UnicodeEncodeError) -> NoReturn:
    # Python keeps argument bytes that are not UTF-8 as lone surrogates, which no database text can hold.
    try:
        raw: object = exc.object.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates too: show the text as it is
        raw = exc.object
    err_console.print(f"[red]error:[/red] {raw!r} is not valid UTF-8 (an argument from a terminal or script "
                      "in another encoding?); recengine's ids and names are UTF-8", highlight=False)  # fmt: skip
    raise SystemExit(2) from None


def _undecodable(exc: UnicodeEncodeError) -> bool:
    """Whether the text holds bytes that were not UTF-8 (``surrogateescape``: U+DC80 to U+DCFF)."""
    return isinstance(exc.object, str) and any("\udc80" <= ch <= "\udcff" for ch in exc.object)
