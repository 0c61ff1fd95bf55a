"""Start-up refusals (issue 17 findings 2, 3, 9): one line naming the setting or file, exit code 2,
before anything is migrated or bound; the schema revision is checked before serving.

Each case runs the real ``vgi`` command in a subprocess, the way an operator meets it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra.security.pki import init_pki
from store import migrate

pytestmark = pytest.mark.timeout(300)

VGI = str(Path(sys.executable).with_name("vgi"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("startup")
    init_pki(root / "pki")
    (root / "bad.toml").write_text("listen = \n")
    (root / "var").mkdir()
    return root


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def _vgi(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VGI_", "OTEL_"))}
    process = await asyncio.create_subprocess_exec(
        VGI,
        *args,
        cwd=cwd,
        env={**environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


SERVE = ["serve", "--pki", "pki", "--listen", "127.0.0.1:0"]
# (arguments, environment, what the one line must name)
CASES: list[tuple[list[str], dict[str, str], str]] = [
    ([*SERVE, "--database", "foo://x/y"], {}, "database_url: 'foo://x/y'"),
    (
        [*SERVE, "--database", "postgresql+psycopg://postgres@127.0.0.1:1/test"],
        {},
        "database_url: cannot reach",
    ),
    ([*SERVE, "--database", "sqlite:////nonexistent/dir/vgi.db"], {}, "/nonexistent/dir"),
    (["serve", "--pki", "missing-pki", "--listen", "127.0.0.1:0"], {}, "pki_dir: missing-pki"),
    (SERVE, {"VGI_LOG_LEVEL": "LOUD"}, "log_level: 'LOUD'"),
    (SERVE, {"VGI_DB_THREADS": "many"}, "VGI_DB_THREADS: expected an integer, got 'many'"),
    ([*SERVE, "--services", "operator,billing"], {}, "services: unknown billing"),
    (["serve", "--pki", "pki", "--listen", "localhost"], {}, "listen: 'localhost'"),
    (["serve", "--pki", "pki", "--listen", "127.0.0.1:99999"], {}, "listen: '127.0.0.1:99999'"),
    ([*SERVE, "--config", "bad.toml"], {}, "config file bad.toml: "),
    (
        SERVE,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_EXPORTER": "zipkin"},
        "OTEL_TRACES_EXPORTER",
    ),
]


async def test_misconfiguration_fails_in_one_line_naming_the_setting(workdir: Path, busy_port: int) -> None:
    cases = [
        *CASES,
        (["serve", "--pki", "pki", "--listen", f"127.0.0.1:{busy_port}"], {}, "is already in use"),
        # The plaintext listeners beside it: refused before migrating, not after serving began.
        (
            SERVE,
            {"VGI_ADMIN_LISTEN": f"127.0.0.1:{busy_port}"},
            f"admin_listen: 127.0.0.1:{busy_port} is already",
        ),
        (
            SERVE,
            {"VGI_ADMIN_GRPC_LISTEN": f"127.0.0.1:{busy_port}"},
            f"admin_grpc_listen: 127.0.0.1:{busy_port} is already",
        ),
        (
            SERVE,
            {"VGI_PROMETHEUS_PORT": str(busy_port)},
            f"prometheus_port: 127.0.0.1:{busy_port} is already",
        ),
    ]
    gate = asyncio.Semaphore(4)

    async def one(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        async with gate:
            return await _vgi(workdir, *args, env=env)

    results = await asyncio.gather(*(one(args, env) for args, env, _ in cases))
    for (args, env, named), (code, out, err) in zip(cases, results, strict=True):
        lines = err.strip().splitlines()
        assert code == 2, (args, env, out, err)
        assert len(lines) == 1, (args, env, err)
        assert lines[0].startswith("vgi serve: ") and named in lines[0], (named, lines[0])
        assert "Traceback" not in err and "serving" not in out
    # Nothing was migrated for the refused starts: the default store was never created.
    assert not (workdir / "var" / "vgi.db").exists()


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


async def test_schema_revision_is_checked_before_serving(workdir: Path) -> None:
    unmigrated = f"sqlite:///{workdir / 'empty.db'}"
    code, _, err = await _vgi(workdir, *SERVE, "--database", unmigrated, "--no-migrate")
    assert code == 2 and "has no schema; run `vgi migrate upgrade`" in err, err

    newer = workdir / "newer.db"
    migrate.upgrade(f"sqlite:///{newer}")
    engine = sa.create_engine(f"sqlite:///{newer}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    code, _, err = await _vgi(workdir, *SERVE, "--database", f"sqlite:///{newer}")
    assert code == 2 and "at revision 9999_future, newer than this vgi" in err, err
    assert len(err.strip().splitlines()) == 1, err


async def test_downgrade_needs_yes_and_version_is_printed(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'down.db'}"
    migrate.upgrade(url)
    head = _revision(url)
    code, _, err = await _vgi(workdir, "migrate", "downgrade", "0001_initial", "--database", url)
    assert code == 2 and "add --yes" in err, err
    assert _revision(url) == head  # nothing was dropped
    code, _, err = await _vgi(workdir, "migrate", "downgrade", "0001_initial", "--yes", "--database", url)
    assert code == 0, err
    assert _revision(url) == "0001_initial"

    code, out, _ = await _vgi(workdir, "--version")
    assert code == 0 and out.startswith("vgi ") and out.strip().split()[1][0].isdigit()
