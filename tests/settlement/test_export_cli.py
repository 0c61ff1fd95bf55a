"""``vgi statements export`` refuses what it cannot do in one line on stderr, exit status 2, no file.

The exports themselves are read back and compared with ListStatements in test_e2e_market.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server import cli
from store import migrate


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ([], "vgi: error: name an --event or a date range (--from/--to)\n"),
        (
            ["--from", "2026-12-02", "--to", "2026-12-01"],
            "vgi: error: --from 2026-12-02 is after --to 2026-12-01\n",
        ),
        (["--event", "events/nope"], "vgi: error: event nope not found\n"),
    ],
)
def test_refusals(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], selection: list[str], message: str
) -> None:
    migrate.upgrade(database_url)
    out = tmp_path / "out.csv"
    argv = ["statements", "export", "--database", database_url, "--format", "csv", "--output", str(out)]
    assert cli.main([*argv, *selection]) == 2
    assert capsys.readouterr().err == message
    assert not out.exists()


def test_an_unreachable_store_is_one_line_without_internals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    url = f"sqlite:///{tmp_path / 'missing' / 'vgi.db'}"
    argv = [
        "statements",
        "export",
        "--database",
        url,
        "--event",
        "e",
        "--format",
        "csv",
        "--output",
        str(out),
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "vgi: error: cannot read statements from the database (is it reachable and migrated? see vgi migrate)\n"
    )
    assert not out.exists()
