"""Developer sessions. Each installs what it needs on a fresh machine.

torch is pinned to 2.13.0 here only (a CPU build available offline on the project's machines);
the package itself accepts torch>=2.3.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

TORCH = "torch==2.13.0"
ROOT = Path(__file__).parent
DEMO_HOME = ROOT / ".zsbench"
DEMO_SPLITS = ("55/5", "48/12")
# The demo runs every registered method (`zsbench ls methods`) at its defaults, which on the embedded set are the
# methods' synthetic budgets (README, "Method budgets"): the same runs as the committed seed-0 strict records.


def _install(session: nox.Session, extras: str = "") -> None:
    session.install(TORCH)
    session.install("-e", f".{extras}")


@nox.session
def demo(session: nox.Session) -> None:
    """Prepare the synthetic NTU-60 stand-in, run every method on 55/5 and 48/12 (strict, seed 0), print the table."""
    _install(session)
    env = {"ZSBENCH_HOME": os.environ.get("ZSBENCH_HOME", str(DEMO_HOME))}
    session.run("zsbench", "prepare", "ntu60-synth", env=env)
    listing = session.run("zsbench", "ls", "methods", "--json", env=env, silent=True)
    methods = [row["name"] for row in json.loads(str(listing))]
    # The two splits train independent encoders: one process per split, one thread each (2-core machines).
    binary = str(Path(session.bin) / "zsbench")
    jobs = []
    for split in DEMO_SPLITS:
        step = [binary, "sweep", *(f"--method={m}" for m in methods), "--split", split, "--dataset", "ntu60-synth"]
        jobs.append(subprocess.Popen([*step, "--seed", "0"], env={**os.environ, **env, "ZSBENCH_THREADS": "1"}))
    if any(job.wait() != 0 for job in jobs):
        session.error("a demo run failed")
    session.run("zsbench", "report", "--layout", "paper", "--ausuc", env=env)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (unit, property and end-to-end CLI tests); Triton kernels run interpreted on the CPU."""
    _install(session, "[dev,triton,plots,ray]")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "zsbench", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "zsbench", "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    _install(session, "[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Speed benchmarks, printed as ratios against a reference run in the same process."""
    _install(session)
    session.run("zsbench", "bench", "all", *session.posargs)
