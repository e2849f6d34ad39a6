"""Mutation testing of ``lib``, one module at a time: a benchmark of the unit tests, not a test.

For each module it runs `mutmut <https://mutmut.readthedocs.io>`_ (version 3) on a copy of the
repository in ``_build/mutation/work/<module>/``: mutmut rewrites the functions of
``lib/<module>.py`` into small variants (a ``+`` made ``-``, a constant plus one, an argument
dropped, ...) and runs that module's own test file against each. A *surviving* mutant is a
change of the code that every test still accepts. The survivors are written, with their diffs,
to ``_build/mutation/<module>.txt``, and one line per module to ``_build/mutation/summary.txt``.

Survivors that cannot change any result (equivalent mutants) are listed with their reasons in
the section "Mutation testing" of ``benchmarks/README.md``; the report counts them apart, and
the score is ``killed / (mutants - equivalent)``.

Install the tool (not needed by ``make test``) in the project's environment::

    pip install -e ".[mutation]"

or, without touching a shared environment, in a venv of its own that sees the shared one::

    python3 -m venv /tmp/mutenv && /tmp/mutenv/bin/pip install "mutmut>=3.8,<4"
    echo /path/to/.venv/lib/python3.11/site-packages \
        > /tmp/mutenv/lib/python3.11/site-packages/shared.pth

Run it (politely: on a shared machine, one run at a time)::

    OMP_NUM_THREADS=1 nice -n 19 /tmp/mutenv/bin/python scripts/mutation.py objectives optim
    OMP_NUM_THREADS=1 nice -n 19 python scripts/mutation.py --all

mutmut mutates code inside functions only: module-level constants (a table of defaults, a
colour matrix) and decorated functions are not mutated, so tests pin those values directly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "mutation"

# module -> the test files that pin it (its own; never another module's)
MODULES: dict[str, list[str]] = {
    "objectives": ["tests/test_objectives.py"],
    "optim": ["tests/test_optim.py"],
    "multiscale": ["tests/test_multiscale.py"],
    "training": ["tests/test_training.py"],
    "parametrization": ["tests/test_parametrization.py"],
    "transforms": ["tests/test_transforms.py"],
    # the book's pages are being rewritten: which claims they hold is not lib.claims' business
    "claims": [
        "tests/test_claims.py",
        "--deselect",
        "tests/test_claims.py::test_every_claim_of_the_book_is_listable",
    ],
    "networks": ["tests/test_networks.py"],
    "device": ["tests/test_device.py"],
    "plots": ["tests/test_plots.py"],
    "assets": ["tests/test_assets.py"],
    # the other modules of lib (the losses and colours of style transfer had their tests in
    # test_style.py; tests/test_gram.py and tests/test_colors.py are theirs now)
    "gram": ["tests/test_gram.py"],
    "colors": ["tests/test_colors.py"],
    "style": ["tests/test_style.py"],
    "inversion": ["tests/test_inversion.py"],
    "attacks": ["tests/test_attacks.py"],
    # its test of the book's networks loads three ImageNet networks for every mutant (hours)
    "manifolds": [
        "tests/test_manifolds.py",
        "--deselect",
        "tests/test_manifolds.py::test_fooling_and_attacks_run_on_the_books_networks",
    ],
    "spectra": ["tests/test_spectra.py"],
    "orientation": ["tests/test_orientation.py"],
    "information": ["tests/test_information.py"],
    "passthrough": ["tests/test_passthrough.py"],
    "features": ["tests/test_features.py"],
    "deepdream": ["tests/test_deepdream.py"],
    "dataset_examples": ["tests/test_dataset_examples.py"],
    "images": ["tests/test_images.py"],
    "own_image": ["tests/test_own_image.py"],
    "digits": ["tests/test_digits.py"],
    # without the four tests that train an autoencoder on the digits for every mutant (the
    # module fixture `trained`: 4 s each); every function they call has faster tests here
    "autoencoders": [
        "tests/test_autoencoders.py",
        *[
            arg
            for test in (
                "test_training_lowers_the_error_but_stays_lossy",
                "test_out_of_distribution_inputs_reconstruct_worse",
                "test_interpolation_ends_match_reconstructions",
                "test_path_confidence_judges_both_paths",
            )
            for arg in ("--deselect", f"tests/test_autoencoders.py::{test}")
        ],
    ],
    "visualization": ["tests/test_visualization.py"],
    "models": ["tests/test_models.py"],
    "deferred": ["tests/test_deferred.py"],
    # the book's network descriptions have no test file of their own: test_networks reads them
    "zoo": ["tests/test_networks.py"],
}
# what the tests read beyond lib/ and tests/ (test_claims lists the book's claims)
COPIED = ["lib", "tests", "scripts", "book", "_config.yml"]
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout"}
STATUS |= {24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}


def equivalent_mutants() -> dict[str, str]:
    """``{mutant name: reason}`` from the "Mutation testing" section of benchmarks/README.md:
    lines such as ``- `lib.optim.x_optimize__mutmut_12`: the reason``."""
    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    section = text.split("## Mutation testing", 1)[-1] if "## Mutation testing" in text else ""
    found = re.findall(r"^- `(lib\.[\w.]+__mutmut_\d+)`:?\s*(.*)$", section, flags=re.M)
    return dict(found)


def _load_toml(text: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: mutmut brings the toml package there
        import toml as tomllib
    return tomllib.loads(text)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)  # strings and lists of strings: JSON is valid TOML here


def prepare(module: str, workdir: Path, tests: list[str]) -> None:
    """A copy of the repository where mutmut mutates ``lib/<module>.py`` and runs its tests."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, workdir / name, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb")
            )
        elif source.exists():
            shutil.copy2(source, workdir / name)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    settings = dict(_load_toml(pyproject)["tool"]["mutmut"])
    settings["only_mutate"] = [f"lib/{module}.py"]
    settings["pytest_add_cli_args_test_selection"] = tests
    # the copy's pyproject: the project's, with its [tool.mutmut] table made per module
    kept = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", pyproject)
    table = "\n".join(f"{key} = {_toml(value)}" for key, value in settings.items())
    (workdir / "pyproject.toml").write_text(f"{kept}\n[tool.mutmut]\n{table}\n", "utf-8")


def report(module: str, workdir: Path, seconds: float, equivalent: dict[str, str]) -> str:
    """Write ``_build/mutation/<module>.txt`` (the survivors and their diffs); return a line."""
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    data = SourceFileMutationData(path=f"lib/{module}.py")
    data.load()
    statuses = {k: STATUS.get(v, "suspicious") for k, v in data.exit_code_by_key.items()}
    killed = [k for k, s in statuses.items() if s in ("killed", "timeout")]
    alive = sorted((k for k in statuses if k not in killed), key=_natural)
    equal = [k for k in alive if k in equivalent]
    survivors = [k for k in alive if k not in equivalent]
    real = len(statuses) - len(equal)
    score = 100.0 * len(killed) / real if real else 100.0
    line = (
        f"{module}: {len(killed)}/{real} killed ({score:.1f}%), {len(statuses)} mutants, "
        f"{len(equal)} equivalent, {len(survivors)} surviving, {seconds:.0f} s"
    )
    lines = [line, ""]
    for title, names in (("Surviving", survivors), ("Equivalent (benchmarks/README.md)", equal)):
        lines.append(f"## {title}: {len(names)}")
        for name in names:
            lines.append(f"\n### {name}: {statuses[name]}")
            if name in equivalent:
                lines.append(f"reason: {equivalent[name]}")
            lines.append(get_diff_for_mutant(name, path=f"lib/{module}.py"))
        lines.append("")
    (OUT / f"{module}.txt").write_text("\n".join(lines), encoding="utf-8")
    os.chdir(ROOT)
    return line


def _natural(name: str):
    head, _, number = name.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def run(module: str, max_children: int, tests: list[str]) -> float:
    workdir = OUT / "work" / module
    prepare(module, workdir, tests)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env |= {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    env["PYTHONPATH"] = str(workdir)  # the copy's lib, never the checkout's
    start = time.monotonic()
    log = OUT / f"{module}.log"
    with open(log, "w", encoding="utf-8") as out:
        code = subprocess.call(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        raise SystemExit(f"mutmut failed on {module} (exit {code}); see {log}")
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--all", action="store_true", help="every module, one after another")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutants (2)")
    parser.add_argument(
        "--tests", nargs="+", help="test files to run instead of the module's own (one module)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the reports of the last runs"
    )
    args = parser.parse_args(argv)
    modules = list(MODULES) if args.all else args.modules
    unknown = [m for m in modules if m not in MODULES]
    if not modules or unknown:
        parser.error(f"name modules among {', '.join(MODULES)} (or --all); unknown: {unknown}")
    if args.tests and len(modules) != 1:
        parser.error("--tests goes with one module")
    try:
        import mutmut  # noqa: F401
    except ImportError:
        parser.error("mutmut is not installed: see this script's docstring.")
    OUT.mkdir(parents=True, exist_ok=True)
    equivalent = equivalent_mutants()
    summary = OUT / "summary.txt"
    old = summary.read_text().splitlines() if summary.exists() else []
    lines = dict(line.split(":", 1) for line in old if line)
    for module in modules:
        timing = OUT / "work" / module / "seconds.txt"
        if args.report_only:
            seconds = float(timing.read_text()) if timing.exists() else 0.0
        else:
            seconds = run(module, args.max_children, args.tests or MODULES[module])
            timing.write_text(f"{seconds:.1f}")
        line = report(module, OUT / "work" / module, seconds, equivalent)
        print(line, flush=True)
        lines[module] = line.split(":", 1)[1]
    summary.write_text("".join(f"{m}:{rest}\n" for m, rest in sorted(lines.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
