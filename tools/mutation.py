"""Mutation testing of the security-critical modules with cosmic-ray, module by module.

    python -m tools.mutation                 # every module below, one per core at a time (see tests/README.md)
    python -m tools.mutation origins tenants/login  # just these
    python -m tools.mutation --jobs 1 tokens        # one module at a time
    python -m tools.mutation --report origins  # print the last results again, run nothing

Each module is mutated in a scratch copy of the repository of its own (``.local/mutation/trees/<module>``),
never in the work tree, so modules run side by side, one per core (``--jobs``).  Its mutants run against
the unit tests that exercise it (``-x``: the first failure kills the mutant; no browser, schemathesis or
ODBC runs).  Results are kept per module in ``.local/mutation/<module>.sqlite`` (cosmic-ray's output in
``<module>.log`` beside it), so an interrupted run resumes where it stopped.  Prints the kill rate per
module and every surviving mutant as a diff; exits non-zero when a module is below the target.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".local" / "mutation"
TREES = WORK / "trees"
TARGET = 0.90
TIMEOUT_SECONDS = 120  # a mutant that hangs the tests is killed (a test run takes 3-10 s)
SKIPPED = (
    ".git",
    ".venv",
    ".local",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "test-output",
    "__pycache__",
    "*.pyc",
    "node_modules",
    "results",
)
PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "-x",
    "-q",
    "-p",
    "no:cacheprovider",
    "--hypothesis-seed=0",
    "-m",
    "not odbc and not browser",
]

# module -> the unit tests that exercise it, most specific (and fastest to fail) first.
MODULES: dict[str, list[str]] = {
    "origins": ["tests/test_origins.py", "tests/test_exchange.py"],
    "billers/exchange": ["tests/test_exchange.py", "tests/test_payer_session.py", "tests/test_fuzz.py"],
    "payers/guard": ["tests/test_payer_session.py"],
    "billers/portal": ["tests/test_admin.py"],
    "tenants/login": ["tests/test_tenant_login.py"],
    "tenants/registry": ["tests/test_tenant_login.py"],
    "tenants/jwks": ["tests/test_tenant_jwks.py", "tests/test_tenant_login.py"],
    "billers/directory": ["tests/test_billers.py", "tests/test_exchange.py", "tests/test_admin.py"],
    "tokens": [
        "tests/test_tokens.py",
        "tests/test_token_parsing.py",
        "tests/test_exchange.py",
        "tests/test_payer_session.py",
        "tests/test_admin.py",
        "tests/test_tenant_login.py",
    ],
    "jose/verify": ["tests/test_jws.py", "tests/test_token_parsing.py", "tests/test_exchange.py"],
    "jose/jws": ["tests/test_jws.py", "tests/test_token_parsing.py", "tests/test_exchange.py"],
}

# Operators that only ever produce noise here.  Each has a reason:
EXCLUDED_OPERATORS = [
    # Each `+`, `-`, `*` or `/` would also become `**`, `>>`, `<<`, `|`, `&`, `^`, `//` and `%`.  Most of ours
    # join strings (a TypeError, killed at once); at the few arithmetic sites the kept `+ - * /` swaps already
    # ask whether the tests pin the sum.  Dropping the rest removes about a quarter of the mutants.
    r"core/ReplaceBinaryOperator_.*_(Pow|RShift|LShift|BitOr|BitAnd|BitXor|FloorDiv|Mod)$",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help=f"one or more of: {', '.join(MODULES)} (default: all, in that order)",
    )
    parser.add_argument("--report", action="store_true", help="print the stored results only")
    parser.add_argument("--fresh", action="store_true", help="forget stored results and start over")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="modules run side by side, each in its own scratch tree (default: one per core)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}; choose from {', '.join(MODULES)}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    modules = args.modules or list(MODULES)
    failed = {} if args.report else run_all(modules, fresh=args.fresh, jobs=args.jobs)
    below = [module for module in modules if report(module) < TARGET or module in failed]
    for module, why in failed.items():
        print(f"\n{module}: did not run: {why}")
    if below:
        print(f"\nbelow the {TARGET:.0%} target: {', '.join(below)}")
    return 1 if below else 0


def run_all(modules: list[str], *, fresh: bool, jobs: int) -> dict[str, str]:
    """Run each module's mutants, ``jobs`` modules at a time; return why any module could not run."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = {module: pool.submit(run, module, fresh=fresh) for module in modules}
    failures = {module: future.exception() for module, future in runs.items()}
    return {module: str(failure) for module, failure in failures.items() if failure}


def run(module: str, *, fresh: bool) -> None:
    tree = copy_tree(module)
    session, config, log = (_kept(module, suffix) for suffix in (".sqlite", ".toml", ".log"))
    config.write_text(cosmic_ray_config(module))
    started = time.monotonic()
    print(f"{module}: started (cosmic-ray's output: {log.relative_to(ROOT)})", flush=True)
    baseline = subprocess.run(  # noqa: S603 - our argv
        test_command(module),
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        env=_environment(),
    )
    if baseline.returncode != 0:
        raise RuntimeError(f"the unmutated tests fail; fix them first:\n{baseline.stdout[-3000:]}")
    with log.open("w") as output:
        if fresh or not session.exists():
            session.unlink(missing_ok=True)
            cosmic_ray(tree, output, "cosmic-ray", "init", str(config), str(session))
            cosmic_ray(tree, output, "cr-filter-operators", str(session), str(config))
            skip_signatures(session, tree / "shared" / f"{module}.py")
        cosmic_ray(tree, output, "cosmic-ray", "exec", str(config), str(session))
    print(f"{module}: ran in {time.monotonic() - started:.0f} s", flush=True)


def _kept(module: str, suffix: str) -> Path:
    """Where a module's results (``.sqlite``), configuration and log are kept: ``tenants/jwks`` -> tenants-jwks."""
    return WORK / (module.replace("/", "-") + suffix)


def copy_tree(module: str) -> Path:
    """A scratch copy without byte code, so a mutant of the same size and mtime is never served stale."""
    tree = TREES / _kept(module, "").name
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*SKIPPED))
    return tree


def test_command(module: str) -> list[str]:
    return [*PYTEST, *MODULES[module]]


def cosmic_ray_config(module: str) -> str:
    excluded = ", ".join(json.dumps(pattern) for pattern in EXCLUDED_OPERATORS)
    return (
        f'[cosmic-ray]\nmodule-path = "shared/{module}.py"\ntimeout = {TIMEOUT_SECONDS}\n'
        f"excluded-modules = []\ntest-command = {json.dumps(shlex.join(test_command(module)))}\n\n"
        f'[cosmic-ray.distributor]\nname = "local"\n\n'
        f"[cosmic-ray.filters.operators-filter]\nexclude-operators = [{excluded}]\n"
    )


def cosmic_ray(tree: Path, output: IO[str], *command: str) -> None:
    executable = str(Path(sys.executable).parent / command[0])
    subprocess.run(  # noqa: S603 - our argv
        [executable, *command[1:]], cwd=tree, check=True, env=_environment(), stdout=output, stderr=subprocess.STDOUT
    )


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def skip_signatures(session: Path, source: Path) -> None:
    """Skip mutants inside annotations and ``def`` signatures (outside default values).

    With ``from __future__ import annotations`` an annotation is never evaluated, so ``str | None``
    becoming ``str - None`` changes nothing; in a signature the only other mutable token is the bare
    ``*`` (keyword-only marker), which cosmic-ray turns into ``/``: every call here passes those
    arguments by keyword, so nothing changes either.
    """
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = _signature_spans(ast.parse(source.read_text()))
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            mutation = item.mutations[0]
            position = tuple(mutation.start_pos)
            if any(start <= position < end for start, end in spans["skip"]) and not any(
                start <= position < end for start, end in spans["keep"]
            ):
                db.set_result(
                    item.job_id,
                    WorkResult(output="annotation or signature marker", worker_outcome=WorkerOutcome.SKIPPED),
                )


def _signature_spans(tree: ast.Module) -> dict[str, list[tuple[tuple[int, int], tuple[int, int]]]]:
    def span(node: ast.AST, end: ast.AST | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
        last = end or node
        stop = (last.lineno, last.col_offset) if end else (last.end_lineno, last.end_col_offset)  # type: ignore
        return (node.lineno, node.col_offset), stop  # type: ignore[attr-defined]

    skip, keep = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            skip.append(span(node, node.body[0]))  # from `def` to the first statement of the body
            keep += [span(default) for default in [*node.args.defaults, *node.args.kw_defaults] if default]
        elif isinstance(node, ast.AnnAssign):
            skip.append(span(node.annotation))
    return {"skip": skip, "keep": keep}


def report(module: str) -> float:
    """Print the kill rate and the survivors; return the rate (killed / mutants tested)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    session = _kept(module, ".sqlite")
    if not session.exists():
        print(f"{module}: no results (run `python -m tools.mutation {module}`)")
        return 0.0
    with use_db(str(session), WorkDB.Mode.open) as db:
        done = [
            (item, result)
            for item, result in db.completed_work_items
            if result.worker_outcome not in (WorkerOutcome.SKIPPED, WorkerOutcome.NO_TEST)
        ]
        pending = db.num_work_items - len(db.completed_work_items)
    survivors = [(item, result) for item, result in done if result.test_outcome == TestOutcome.SURVIVED]
    rate = 1 - len(survivors) / len(done) if done else 0.0
    print(
        f"\n== {module}: {len(done) - len(survivors)}/{len(done)} mutants killed ({rate:.1%})"
        + (f", {pending} not run yet" if pending else "")
    )
    for item, result in sorted(survivors, key=lambda pair: pair[0].mutations[0].start_pos):
        mutation = item.mutations[0]
        print(
            f"-- survived: {mutation.operator_name} at line {mutation.start_pos[0]}"
            f" (in {mutation.definition_name or 'module'})"
        )
        print(
            "\n".join(
                line
                for line in (result.diff or "").splitlines()
                if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
            )
        )
    return rate if not pending else 0.0


if __name__ == "__main__":
    sys.exit(main())
