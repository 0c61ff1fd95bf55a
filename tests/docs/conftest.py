"""Fixtures of the doc tests: a scratch copy of the checkout and a platform served as `make run` serves it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .verbatim import ROOT, VENV_BIN, reader_env


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    copy = tmp_path / "checkout"
    copy.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("var", ".git"):
            (copy / entry.name).symlink_to(entry)
    return copy


@pytest.fixture
def live_platform(workdir: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A platform as `make run` serves it, on free ports: {"grpc"|"admin"|"health": "127.0.0.1:PORT"}."""
    vgi = str(VENV_BIN / "vgi")
    env = reader_env(tmp_path)
    subprocess.run([vgi, "pki", "init", "--dir", "var/pki", "--if-missing"], cwd=workdir, env=env, check=True)
    log = (tmp_path / "platform.log").open("w")
    process = subprocess.Popen(
        [
            vgi,
            "serve",
            "--pki",
            "var/pki",
            "--listen",
            "127.0.0.1:0",
            "--database",
            f"sqlite:///{tmp_path}/vgi.db",
        ],
        cwd=workdir,
        env={**env, "VGI_ADMIN_LISTEN": "127.0.0.1:0", "VGI_ADMIN_GRPC_LISTEN": "127.0.0.1:0"},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("vgi: serving"), (line, (tmp_path / "platform.log").read_text()[-2000:])
        port = re.search(r"on port (\d+)", line)
        admin = re.search(r"admin http://(127\.0\.0\.1:\d+)", line)
        health = re.search(r"gRPC health (127\.0\.0\.1:\d+)", line)
        assert port and admin and health, line
        yield {"grpc": f"127.0.0.1:{port.group(1)}", "admin": admin.group(1), "health": health.group(1)}
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
