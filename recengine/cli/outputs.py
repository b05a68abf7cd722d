"""Options that name a file or folder a command writes: checked when the command line is read.

An evaluation, a batch job or the demo runs for minutes before it writes its output; a path that cannot be written
(its folder is a file, a read-only place, a typo under ``/``) must fail before that work, naming the option,
not after it with an OS traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer


def _folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created if missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{folder} is a file, not a folder"
    except OSError as exc:
        return f"cannot create the folder {folder}: {exc.strerror or exc}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable by this user"
    return None


def output_file(value: Path | None) -> Path | None:
    """Typer callback of an option naming a file to write: its folder exists afterwards, or the option is bad."""
    if value is None:
        return None
    if value.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a file name")
    problem = _folder_problem(value.parent)
    if problem is None and value.exists() and not os.access(value, os.W_OK):
        problem = f"{value} is not writable by this user"
    if problem is not None:
        raise typer.BadParameter(problem)
    return value


def output_folder(value: Path | None) -> Path | None:
    """Typer callback of an option naming a folder to write files in: it exists afterwards, or the option is bad."""
    if value is None:
        return None
    problem = _folder_problem(value)
    if problem is not None:
        raise typer.BadParameter(problem)
    return value
