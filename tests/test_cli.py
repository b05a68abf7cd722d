"""The command line as a user runs it: separate processes on the embedded default."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from recengine.cli import app
from tests.test_import_myntra import _jpeg, _small_catalogue

ROWS = [
    "c1,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Red Tee",
    "c2,Women,Apparel,Bottomwear,Jeans,Blue,Fall,2013,Casual,Blue Jeans",
    "c3,Women,Apparel,Bottomwear,Jeans,Black,Fall,2013,Casual,Black Jeans",
]


def _recengine(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from recengine.cli import main; main()", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECENGINE_")}
    env.update(RECENGINE_DATA_DIR=str(tmp_path / "data"), COLUMNS="200")
    return env


def _server_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_embedded_server_survives_restarts_and_keeps_its_data(user_env: dict[str, str], tmp_path: Path) -> None:
    images = {f"c{i}.jpg": _jpeg((40 * i, 10, 10)) for i in (1, 2, 3)}
    catalogue = _small_catalogue(tmp_path / "catalogue", ROWS, images)
    data_dir = Path(user_env["RECENGINE_DATA_DIR"])

    stale = _recengine("import", "myntra", str(catalogue), env=user_env)
    assert stale.returncode == 2 and "recengine db upgrade" in stale.stderr

    assert _recengine("db", "upgrade", env=user_env).returncode == 0
    assert not _server_running(data_dir), "the embedded server must stop when the last recengine process exits"
    imported = _recengine("import", "myntra", str(catalogue), env=user_env)
    assert imported.returncode == 0, imported.stderr
    assert "items" in imported.stdout and "3" in imported.stdout

    stats = _recengine("catalogue", "stats", env=user_env)
    assert stats.returncode == 0, stats.stderr
    assert "Jeans" in stats.stdout and "3 items (3 active)" in stats.stdout
    status = _recengine("db", "status", env=user_env)
    assert status.returncode == 0 and "up to date" in status.stdout and "embedded" in status.stdout
    assert not _server_running(data_dir)
    # The WAL limit is kept in the data dir, so every later start of the server has it.
    assert "max_wal_size = '256MB'" in (data_dir / "pgdata" / "postgresql.auto.conf").read_text()
    refused = _recengine("db", "downgrade", "base", env=user_env)  # "base" typed for "-1" deleted the shop
    assert refused.returncode == 2 and "items (3 rows)" in refused.stderr and "--drop-data" in refused.stderr
    assert "3 items (3 active)" in _recengine("catalogue", "stats", env=user_env).stdout  # nothing was changed


_HOLDER = """
import sys
from recengine.config import Settings
if sys.argv[1] == "cli":  # a CLI command or the API: opens the database and closes it
    from recengine.store.database import open_database
    db = open_database(Settings())
else:  # a worker: joins the server for the life of the process and leaves it only at exit
    from workers.app import resolve_database_url
    resolve_database_url(Settings())
print("holding", flush=True)
sys.stdin.readline()
"""


def _holder(kind: str, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, kind], env=env, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
    return proc


def _stop_server(data_dir: Path) -> None:
    if _server_running(data_dir):  # never leave a test's server behind, whatever the assertions said
        os.kill(int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0]), signal.SIGTERM)


def test_the_server_stops_after_its_last_live_holder_even_when_one_was_killed(user_env: dict[str, str]) -> None:
    """A holder killed with SIGKILL never leaves the wheel's holder list; the server used to run on for good."""
    data_dir = Path(user_env["RECENGINE_DATA_DIR"])
    assert _recengine("db", "upgrade", env=user_env).returncode == 0
    try:
        killed = _holder("cli", user_env)
        worker = _holder("worker", user_env)
        killed.kill()  # as the OOM killer would: no exit handlers run
        killed.wait()
        assert _server_running(data_dir)  # the worker still holds it
        worker.communicate("\n", timeout=60)  # the worker exits normally, the last live holder
        assert worker.returncode == 0
        assert not _server_running(data_dir), "the last live holder must stop the server"

        killed = _holder("worker", user_env)
        killed.kill()
        killed.wait()
        (data_dir / "pgdata" / ".handle_pids.json").write_text("[12")  # half written, as a crash could leave it
        status = _recengine("db", "status", env=user_env)
        assert status.returncode == 0 and "up to date" in status.stdout, status.stderr
        assert not _server_running(data_dir)
    finally:
        _stop_server(data_dir)


def test_an_argument_that_is_not_utf8_is_one_line(user_env: dict[str, str]) -> None:
    """A terminal in another encoding passes bytes Python keeps as lone surrogates, which no text column holds."""
    assert _recengine("db", "upgrade", env=user_env).returncode == 0
    cmd = [sys.executable, "-c", "from recengine.cli import main; main()", "users", "fit", b"caf\xe9"]
    result = subprocess.run(cmd, env=user_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "b'caf\\xe9' is not valid UTF-8" in result.stderr, result.stderr


def test_a_data_dir_with_spaces_and_shell_characters_holds_a_working_server(user_env: dict[str, str],
                                                                          tmp_path: Path) -> None:  # fmt: skip
    """The wheel passes its socket folder through pg_ctl's shell unquoted: such a path never started a server."""
    data_dir = tmp_path / "My Shop's $HOME, data"
    user_env["RECENGINE_DATA_DIR"] = str(data_dir)
    upgraded = _recengine("db", "upgrade", env=user_env)
    assert upgraded.returncode == 0, upgraded.stderr
    status = _recengine("db", "status", env=user_env)  # a second process finds the same server and its schema
    assert status.returncode == 0 and "up to date" in status.stdout, status.stderr
    assert (data_dir / "pgdata" / "PG_VERSION").is_file()  # the data live in the data dir, only a link elsewhere
    assert not _server_running(data_dir), "the server must stop when the last recengine process exits"
    odd_temp = tmp_path / "odd temp"  # no plain folder to link from: say what to do instead
    odd_temp.mkdir()
    user_env["TMPDIR"] = str(odd_temp)
    refused = _recengine("db", "status", env=user_env)
    assert refused.returncode == 2 and "set RECENGINE_DATA_DIR to a path of letters" in refused.stderr, refused.stderr


def test_a_data_dir_that_cannot_be_used_is_named(user_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    user_env["RECENGINE_DATA_DIR"] = str(tmp_path / "a-file" / "data")
    result = _recengine("db", "upgrade", env=user_env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: cannot use {tmp_path / 'a-file' / 'data'} as the data dir "
                                    "(RECENGINE_DATA_DIR): Not a directory"), result.stderr  # fmt: skip
    user_env["RECENGINE_DATA_DIR"] = str(tmp_path / "a-file")
    result = _recengine("db", "upgrade", env=user_env)
    assert result.returncode == 2 and "(RECENGINE_DATA_DIR): it is a file, not a folder" in result.stderr, result.stderr


@pytest.mark.parametrize("args", [
    ["catalogue", "stats", "--limit", "-3"],  # was PostgreSQL's error on LIMIT -3
    ["catalogue", "masks", "list", "--limit", "-2"],  # was an empty table
    ["evaluate", "baselines", "--seed", "-1"],  # was numpy's traceback after loading the dataset
    ["evaluate", "baselines", "--k", "0"],  # was a table of Recall@0
    ["recommend", "--item", "x", "--category", "bottom", "--designs", "0"],
    ["recommend", "--item", "x", "--category", "bottom", "--seed", "-1"],  # the API's range too
    ["import", "myntra", ".", "--limit", "-1"],  # was an import of nothing
    ["data", "simulate-users", "--seed", "-1"],  # was numpy's traceback
    ["data", "build-outfits", "--outfits", "0"],  # was NaN statistics that PostgreSQL refused
    ["serve", "--port", "70000"],  # was a traceback from the socket's bind
    ["serve", "--log-level", "loud"],  # was a KeyError in uvicorn's config
    ["worker", "--concurrency", "0"],
    ["worker", "--loglevel", "LOUD"],
    ["index", "build", "--name", "../outside"],  # a folder outside the indexes dir
    ["recommend", "--item", "x", "--category", "bottom", "--index", ""],
])  # fmt: skip
def test_values_out_of_range_are_usage_errors_before_any_work(args: list[str], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("RECENGINE_DATA_DIR", str(tmp_path / "never-created"))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and f"Invalid value for '{args[-2]}'" in result.output, result.output
    assert not (tmp_path / "never-created").exists()  # refused before the database started


def test_missing_catalogue_gives_a_clear_message(user_env: dict[str, str], tmp_path: Path) -> None:
    user_env["RECENGINE_CATALOGUE_PATH"] = str(tmp_path / "nowhere")
    result = _recengine("demo", env=user_env)
    assert result.returncode == 2
    assert "RECENGINE_CATALOGUE_PATH" in result.stderr and "does not exist" in result.stderr


def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import typer.main

    click_group = typer.main.get_command(group) if not hasattr(group, "commands") else group  # type: ignore[arg-type]
    out = [prefix]
    for name, cmd in click_group.commands.items():  # type: ignore[attr-defined]
        out += _commands(cmd, (*prefix, name)) if hasattr(cmd, "commands") else [(*prefix, name)]
    return out


def test_help_everywhere() -> None:
    runner = CliRunner()
    commands = _commands(app)
    assert ("import", "maryland-polyvore") in commands and ("db", "status") in commands
    for cmd in commands:
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0, (cmd, result.output)
        assert "Usage" in result.output


def _lines(output: str) -> list[str]:
    """The help's lines without box borders and padding."""
    return [" ".join(line.strip(" │╭╮╰╯─").split()) for line in output.splitlines()]


def _command(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


def test_help_paragraphs_are_not_broken_where_the_source_wrapped() -> None:
    """Typer kept a docstring's line breaks: "...stopped, or to free" and "space at once..." on two lines."""
    runner = CliRunner()
    checked = 0
    for path in _commands(app):
        output = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "3000"}).output
        lines = _lines(output)
        cmd = _command(path)
        paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(cmd.help or "").split("\n\n") if p.strip()]
        listed = [" ".join(inspect.cleandoc(sub.help or "").split("\n\n")[0].split())
                  for sub in getattr(cmd, "commands", {}).values()]  # fmt: skip
        for text in [*paragraphs, *listed]:
            assert any(text in line for line in lines), (path, text, output)
            checked += 1
    assert checked > 100


def test_data_and_evaluate_commands_end_to_end(user_env: dict[str, str]) -> None:
    from tests.conftest import MYNTRA, require

    catalogue = require(MYNTRA)
    assert _recengine("db", "upgrade", env=user_env).returncode == 0
    imported = _recengine("import", "myntra", str(catalogue), "--limit", "6000", env=user_env)
    assert imported.returncode == 0, imported.stderr
    too_many = _recengine("data", "simulate-users", "--users", "12", "--newcomers", "12", env=user_env)
    assert too_many.returncode == 2 and "--newcomers" in too_many.stderr, too_many.stderr
    # --newcomers defaults to one user in eight (the seed's 100 of 800), so a small --users works alone.
    sim = _recengine("data", "simulate-users", "--users", "16", "--train-outfits", "20", "--test-outfits", "5",
                     env=user_env)  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    assert "400" in sim.stdout  # 16 users x 25 outfits
    again = _recengine("data", "simulate-users", "--users", "16", env=user_env)
    assert again.returncode == 2 and "exists" in again.stderr and "replace" in again.stderr
    stylist = _recengine("data", "build-outfits", "--outfits", "50", env=user_env)
    assert stylist.returncode == 0 and "50" in stylist.stdout
    evaluated = _recengine("evaluate", "baselines", env=user_env)
    assert evaluated.returncode == 0, evaluated.stderr
    for word in ("random", "popularity", "als", "bpr", "fitb", "pfitb", "recall10"):
        assert word in evaluated.stdout
    wrong = _recengine("evaluate", "baselines", "--dataset", "stylist", env=user_env)
    assert wrong.returncode == 2 and "no users and outfit splits" in wrong.stderr


def test_index_commands_build_check_search_and_draw(user_env: dict[str, str], tmp_path: Path) -> None:
    catalogue = _small_catalogue(
        tmp_path / "catalogue",
        ROWS,
        {f"c{i}.jpg": _jpeg(colour) for i, colour in ((1, (200, 10, 10)), (2, (10, 10, 200)), (3, (10, 10, 10)))},
    )
    assert _recengine("db", "upgrade", env=user_env).returncode == 0
    assert _recengine("import", "myntra", str(catalogue), env=user_env).returncode == 0
    missing = _recengine("index", "search", "--item", "c1", env=user_env)
    assert missing.returncode == 2 and "recengine index build" in missing.stderr
    built = _recengine("index", "build", "--embedder", "pixels", env=user_env)
    assert built.returncode == 0 and "3 items" in built.stdout, built.stderr
    status = _recengine("index", "status", env=user_env)
    assert status.returncode == 0 and "pixels:8x8@64" in status.stdout and "ready" in status.stdout
    assert _recengine("index", "check", env=user_env).returncode == 0
    query = tmp_path / "street-photo.jpg"
    query.write_bytes(_jpeg((20, 20, 180)))
    picture = tmp_path / "grid.png"
    found = _recengine("index", "search", "--image", str(query), "--category", "bottom", "-k", "5",
                       "--out", str(picture), env=user_env)  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "2 nearest of 3 (bottom)" in found.stdout and "c1" not in found.stdout.split("nearest")[1]
    assert picture.stat().st_size > 0
    both = _recengine("index", "search", "--item", "c1", "--image", str(picture), env=user_env)
    assert both.returncode == 2 and "exactly one" in both.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    unreadable = _recengine("index", "search", "--image", str(notes), env=user_env)  # was PIL's words on a buffer
    assert unreadable.returncode == 2 and f"{notes} is not a readable image" in unreadable.stderr, unreadable.stderr
    capes = _recengine("index", "search", "--item", "c1", "--category", "capes", env=user_env)  # was an empty table
    assert capes.returncode == 2 and "has no category 'capes'; it has: bottom, top" in capes.stderr, capes.stderr

    # A catalogue change queues a sync job; until it runs, the check names the missing item.
    shirt = "c4,Men,Apparel,Topwear,Shirts,White,Summer,2012,Casual,Tee"
    grown = _small_catalogue(tmp_path / "catalogue", [*ROWS, shirt], {"c4.jpg": _jpeg((240, 240, 240))})
    imported = _recengine("import", "myntra", str(grown), env=user_env)
    assert imported.returncode == 0 and "queued index sync job" in imported.stdout, imported.stderr
    behind = _recengine("index", "check", env=user_env)
    assert behind.returncode == 1 and "missing from the index: 1" in behind.stdout
    assert _recengine("index", "sync", "--embedder", "pixels", env=user_env).returncode == 0
    assert _recengine("index", "check", env=user_env).returncode == 0
