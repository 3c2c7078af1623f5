"""The command line as a user runs it: a subprocess, exit codes, files written.

The many bad-option cases call the console script's entry function in this
process (each subprocess spends seconds importing torch); two of them also
run as real processes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REF = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CONTRACT_KEYS = {
    "space",
    "strategy",
    "dataset",
    "seed",
    "arch",
    "indicators",
    "benchmark",
    "search_seconds",
    "evaluations",
    "device",
    "version",
}


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TENAS_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "tenas_automl.cli", *args], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
    )


def cli_in_process(
    *args: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> subprocess.CompletedProcess[str]:
    """``cli`` without the process: ``tenas_automl.cli.main`` as the console script calls it."""
    from tenas_automl.cli import main

    monkeypatch.setenv("TENAS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["tenas-automl", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        # As the interpreter maps it: None is success, a message is failure.
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)


def _assert_one_line_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    assert res.returncode == 1, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_help_and_list(tmp_path: Path) -> None:
    assert cli("--help", tmp_path=tmp_path).returncode == 0
    res = cli("list", "spaces", tmp_path=tmp_path)
    assert res.returncode == 0 and res.stdout.split() == ["nb201", "darts"]
    res = cli("list", "indicators", tmp_path=tmp_path)
    assert res.returncode == 0 and all(n in res.stdout for n in ("ntk", "lr", "gen", "naswot"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("list", "things"), "things"),
        (("run", "--space", "nb202"), "nb202"),
        (("run", "--strategy", "annealing"), "annealing"),
        (("run", "--dataset", "mnist"), "mnist"),
        (("run", "--indicators", "ntk,bogus"), "bogus"),
        (("run", "--device", "tpu"), "tpu"),
        (("run", "--device", "cuda:99", "--strategy", "random", "--indicators", "params"), "'cuda:99'"),
        (("run", "--budget", "0", "--strategy", "random"), "budget"),
        (("run", "--budget", "5"), "--budget 5 does not apply to --strategy prune"),
        (("score", "|nor_conv_3x3~0|+|bad_op~0|none~1|+|none~0|none~1|none~2|"), "bad_op"),
        (("score", "--archs", "missing.txt"), "missing.txt"),
        (("run", "--strategy", "random", "--data-dir", "no/such/dir", "--indicators", "params"), "no/such/dir"),
        (("run", "--threads", "0"), "threads"),
        (("run", "--workers", "0"), "workers"),
        (("run", "--preset", "turbo"), "turbo"),
        (("run", "--strategy", "random", "--preset", "fast"), "--preset"),
        (("run", "--engine", "optuna", "--strategy", "evolution", "--preset", "fast"), "--preset"),
        (("run", "--engine", "optuna", "--preset", "turbo", "--trials", "1"), "turbo"),
        # Options another engine reads are refused, not silently ignored.
        (("run", "--engine", "optuna", "--budget", "10"), "--budget does not apply to --engine optuna"),
        (("run", "--engine", "optuna", "--workers", "2"), "--workers"),
        (("run", "--engine", "nni", "--no-cache"), "--no-cache does not apply to --engine nni"),
        (("cache", "wipe"), "wipe"),
        (("correlate", "--space", "darts"), "space 'darts' has no benchmark accuracies for 'cifar10'"),
        (
            ("run", "--engine", "nni", "--storage", "sqlite:///x.db", "--study-name", "s"),
            "--storage, --study-name do not apply to --engine nni",
        ),
        (("run", "--trials", "5"), "--trials does not apply to --engine native"),
        (("run", "--storage", "sqlite:///x.db"), "--storage"),
        (("run", "--engine", "optuna", "--trials", "0"), "--trials must be a positive integer, got 0"),
        (("run", "--engine", "nni", "--trials", "0"), "--trials must be a positive integer, got 0"),
        (("run", "--engine", "optuna", "--storage", "sqlite:///no/such/dir/s.db"), "folder 'no/such/dir' does not"),
        (("run", "--engine", "optuna", "--storage", "study.db"), "expected a database URL such as sqlite:///"),
        # The parser's own errors: a misspelt option, a value of the wrong type, an unknown command.
        (("run", "--budgte", "3"), "No such option: --budgte (Possible options: --budget)"),
        (("score", REF, "--seed", "abc"), "Invalid value for '--seed'"),
        (("run", "--quiet=maybe"), "'--quiet' does not take a value"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("list",), "Missing argument 'what'"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    needle: str,
) -> None:
    _assert_one_line_error(cli_in_process(*args, tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys), needle)


def test_cache_info_and_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def run(*args: str) -> str:
        res = cli_in_process(*args, tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert "no score cache at" in run("cache")
    run("score", REF, "--indicators", "params,flops", "--quiet")

    def rows(screen: str) -> list[list[str]]:
        return [[c.strip() for c in ln.split("│")[1:4]] for ln in screen.splitlines() if ln.count("│") == 4]

    assert rows(run("cache", "info")) == [["nb201", "flops", "1"], ["nb201", "params", "1"], ["all", "", "2"]]
    assert "removed 2 values" in run("cache", "clear")
    assert rows(run("cache")) == [["all", "", "0"]]


@pytest.mark.parametrize("command", [("score", REF), ("run", "--strategy", "random", "--budget", "2")])
def test_an_unusable_score_cache_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "scores.sqlite").write_text("not a database " * 100)
    for folder in ("a-file", "broken"):
        res = cli_in_process(
            *command, "--indicators", "params", "--cache-dir", folder, tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys
        )
        _assert_one_line_error(res, f"cannot use the score cache '{folder}/scores.sqlite'")
        assert "--no-cache" in res.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("run", "--space", "nb202"), "nb202"),
        (("score", "--archs", "missing.txt"), "missing.txt"),
        (("run", "--budgte", "3"), "No such option: --budgte"),
    ],
)
def test_user_errors_from_a_real_process(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    _assert_one_line_error(cli(*args, tmp_path=tmp_path), needle)


def _table_value(screen: str, field: str) -> str:
    """The whole value of ``field`` in a printed two-column table, its folded lines joined."""
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in screen.splitlines() if ln.count("│") == 3]
    start = next(i for i, (key, _) in enumerate(rows) if key == field)
    parts = [rows[start][1]]
    for key, value in rows[start + 1 :]:
        if key:
            break
        parts.append(value)
    return "".join(parts)


def test_run_writes_contract_json_and_plot(tmp_path: Path) -> None:
    out, plot = tmp_path / "res.json", tmp_path / "traj.png"
    res = cli(
        "run",
        "--indicators",
        "lr",
        "--seed",
        "1",
        "--device",
        "cpu",
        "--output",
        str(out),
        "--plot",
        str(plot),
        "--quiet",
        tmp_path=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert _table_value(res.stdout, "arch") == doc["arch"]  # folded on an 80-column screen, never cut
    assert CONTRACT_KEYS <= set(doc)
    assert doc["space"] == "nb201" and doc["strategy"] == "prune" and doc["device"] == "cpu"
    assert doc["evaluations"] == 54 and "none" not in doc["arch"]
    from tenas_automl import get_space

    space = get_space("nb201")
    arch = space.parse(doc["arch"])
    assert doc["benchmark"]["cifar10"] == pytest.approx(space.benchmark_accuracy(arch, "cifar10"))
    assert plot.stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert doc["cache"]["reused"] == 0 and doc["cache"]["computed"] > 54
    # Same seed, same architecture: computed again, then read back from the score cache.
    again, cached = tmp_path / "again.json", tmp_path / "cached.json"
    cli(
        "run",
        "--indicators",
        "lr",
        "--seed",
        "1",
        "--device",
        "cpu",
        "--output",
        str(again),
        "--quiet",
        "--no-cache",
        tmp_path=tmp_path,
    )
    redone = json.loads(again.read_text())
    assert redone["arch"] == doc["arch"] and redone["indicators"] == doc["indicators"] and "cache" not in redone
    res = cli("run", "--indicators", "lr", "--seed", "1", "--device", "cpu", "--output", str(cached), tmp_path=tmp_path)
    reread = json.loads(cached.read_text())
    assert reread["arch"] == doc["arch"] and reread["history"] == doc["history"]
    assert reread["cache"] == {"dir": str(tmp_path / "cache"), "reused": doc["cache"]["computed"], "computed": 0}
    assert f"{reread['cache']['reused']} values reused, 0 computed" in res.stdout


def test_run_optuna_engine_writes_contract_json_and_resumes(tmp_path: Path) -> None:
    import optuna

    from tenas_automl import get_space

    db, out = tmp_path / "study.db", tmp_path / "study.json"
    args = (
        "run",
        "--engine",
        "optuna",
        "--strategy",
        "evolution",
        "--indicators",
        "params",
        "--device",
        "cpu",
        "--storage",
        f"sqlite:///{db}",
        "--study-name",
        "demo",
        "--output",
        str(out),
        "--quiet",
    )
    res = cli(*args, "--trials", "3", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert CONTRACT_KEYS <= set(doc) and doc["engine"] == "optuna" and doc["trials"] == 3
    space = get_space("nb201")
    assert doc["best_value"] == pytest.approx(space.benchmark_accuracy(space.parse(doc["arch"]), "cifar10"))
    first = [t.params for t in optuna.load_study(study_name="demo", storage=f"sqlite:///{db}").trials]
    plot = tmp_path / "study.png"
    res = cli(*args, "--trials", "5", "--plot", str(plot), tmp_path=tmp_path)  # a larger total: resumes
    assert res.returncode == 0, res.stderr
    assert plot.stat().st_size > 1000 and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    trials = optuna.load_study(study_name="demo", storage=f"sqlite:///{db}").trials
    assert len(trials) == 5 and [t.params for t in trials[:3]] == first
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 5
    assert json.loads(out.read_text())["trials"] == 5


def test_run_nni_engine_prints_a_table_and_writes_contract_json(tmp_path: Path) -> None:
    pytest.importorskip("nni")
    from tenas_automl import get_space

    out, plot = tmp_path / "nni.json", tmp_path / "nni.png"
    res = cli("run", "--engine", "nni", "--strategy", "evolution", "--indicators", "params", "--trials", "3",
              "--device", "cpu", "--output", str(out), "--plot", str(plot), "--quiet", tmp_path=tmp_path)  # fmt: skip
    assert plot.stat().st_size > 1000
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert CONTRACT_KEYS <= set(doc) and doc["engine"] == "nni" and doc["models"] == len(doc["submitted"]) == 3
    space = get_space("nb201")
    assert doc["metric"] == max(m["metric"] for m in doc["submitted"])
    assert doc["benchmark"]["cifar10"] == pytest.approx(space.benchmark_accuracy(space.parse(doc["arch"]), "cifar10"))
    assert _table_value(res.stdout, "arch") == doc["arch"] and _table_value(res.stdout, "models submitted") == "3"


def test_run_on_darts_writes_the_genotype_and_its_size(tmp_path: Path) -> None:
    out = tmp_path / "darts.json"
    res = cli(
        "run",
        "--space",
        "darts",
        "--strategy",
        "random",
        "--budget",
        "3",
        "--indicators",
        "params",
        "--device",
        "cpu",
        "--output",
        str(out),
        "--quiet",
        tmp_path=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert CONTRACT_KEYS <= set(doc) and doc["space"] == "darts" and doc["evaluations"] == 3
    from tenas_automl import get_space

    space = get_space("darts")
    genotype = space.parse(doc["arch"])  # the printed Genotype(...) text parses back
    assert doc["arch"].startswith("Genotype(normal=[")
    net = space.build(genotype)  # CIFAR evaluation network: 36 channels, 20 cells
    params = sum(p.numel() for n, p in net.named_parameters() if "auxiliary" not in n)
    assert doc["params_millions"] == pytest.approx(params / 1e6, abs=5e-4)


def test_score_file_to_csv_and_json(tmp_path: Path) -> None:
    archs = tmp_path / "archs.txt"
    archs.write_text(f"{REF}\n# a comment\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    for suffix in (".csv", ".json"):
        out = tmp_path / f"scores{suffix}"
        res = cli(
            "score",
            "--archs",
            str(archs),
            "--indicators",
            "params,lr",
            "--device",
            "cpu",
            "--output",
            str(out),
            "--quiet",
            tmp_path=tmp_path,
        )
        assert res.returncode == 0, res.stderr
        if suffix == ".csv":
            rows = list(csv.DictReader(out.open()))
            assert list(rows[0]) == [
                "arch",
                "params",
                "params_seconds",
                "lr",
                "lr_seconds",
                "acc_cifar10",
                "acc_cifar100",
                "acc_ImageNet16-120",
            ]
        else:
            rows = json.loads(out.read_text())
        assert [r["arch"] for r in rows] == [REF, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
        assert float(rows[0]["params"]) == 802426.0
        assert float(rows[0]["acc_cifar10"]) > 90
        assert rows[1]["lr"] in ("", None)  # no path input->output: worst (NaN), written empty


def test_a_run_interrupted_before_any_scoring_reports_nothing_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tenas_automl.scoring import CachedEvaluator

    def ctrl_c(self: CachedEvaluator, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the first scoring

    monkeypatch.setattr(CachedEvaluator, "__call__", ctrl_c)
    for strategy in ("prune", "random"):
        out = tmp_path / f"{strategy}.json"
        res = cli_in_process("run", "--strategy", strategy, "--indicators", "params", "--output", str(out),
                             tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys)  # fmt: skip
        assert res.returncode == 130, res.stderr
        assert "before any architecture was scored" in " ".join(res.stderr.split()), res.stderr
        assert not out.exists() and "Traceback" not in res.stderr and res.stdout.strip() == ""


def test_nni_config_into_a_file_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("not a folder")
    res = cli_in_process("nni-config", "--out", "taken", tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    _assert_one_line_error(res, "--out 'taken' is a file")
    assert (tmp_path / "taken").read_text() == "not a folder"


def test_run_preset_best_is_the_ensemble_evolution_and_names_its_recipe(tmp_path: Path) -> None:
    out = tmp_path / "best.json"
    res = cli("run", "--preset", "best", "--budget", "5", "--workers", "1", "--device", "cpu",
              "--cache-dir", str(tmp_path / "cache"), "--output", str(out), "--quiet", tmp_path=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert CONTRACT_KEYS <= set(doc) and doc["strategy"] == "evolution" and doc["preset"] == "best"
    recipe = doc["recipe"]
    assert recipe["ranking"] == ["ensemble"] and recipe["preset"] == "best" and recipe["budget"] == 5
    assert recipe["indicators"] == ["meco", "lr", "synflow", "az_expressivity", "az_progressivity", "az_trainability"]
    assert recipe["children"] > 1 and doc["evaluations"] == 5


def test_score_a_model_factory_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    (tmp_path / "mymodels.py").write_text(
        "from torch import nn\n"
        "def small():\n"
        "    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 28 * 28, 10))\n"
    )
    run = cli_in_process(
        "score", "--model", "mymodels.py:small", "--indicators", "naswot,params", "--input-shape", "1,28,28",
        "--device", "cpu", "--output", "m.json", tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (row,) = json.loads((tmp_path / "m.json").read_text())
    assert row["model"] == "mymodels.py:small" and row["params"] == 8 * 9 + 8 + 8 * 28 * 28 * 10 + 10
    assert row["naswot"] is not None and row["naswot_seconds"] >= 0
    for args, needle in (
        (("--model", "mymodels.py:big"), "has no callable 'big'"),
        (("--model", "mymodels.py"), "expected MODULE:FACTORY"),
        (("--model", "mymodels.py:small", "--indicators", "lr"), "needs a supernet"),
        (("--model", "mymodels.py:small", REF), "not both"),
        (("--model", "mymodels.py:small", "--input-shape", "1x28"), "expected C,H,W"),
    ):
        bad = cli_in_process("score", *args, tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert bad.returncode == 1 and needle in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)
