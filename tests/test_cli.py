"""The hoag-shine command: its outputs, its progress, its exit codes."""
import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, make_classification
from sklearn.linear_model import LogisticRegression

from hoag_shine import HyperOptimizer, cli, cli_output
from hoag_shine.cli_data import DATA_HOME_ENV, load_dataset, split_indices

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--max-iter", "4", "--methods", "cg", "shine"]


def run(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def table_rows(out, methods):
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.split() and line.split()[0] in methods and ":" not in line}


def test_table_is_the_fit_on_the_documented_split(tmp_path, capsys):
    """Held-out loss = mean logistic loss, on the held-out part, of the model fitted
    on the training part with the outer part as validation; close to
    LogisticRegression at the chosen C (the inner solves are approximate)."""
    path = tmp_path / "res.json"
    status, out, _ = run(FAST + ["--output", str(path)], capsys)
    assert status == 0
    assert "breast-cancer: 569 samples, 30 features" in out
    assert set(table_rows(out, {"cg", "shine"})) == {"cg", "shine"}
    X, y = load_dataset("breast-cancer")
    train, outer, held = split_indices(569, 0, cli.TRAIN_FRACTION, cli.OUTER_FRACTION)
    rest = np.r_[train, outer]
    cv = [(np.arange(len(train)), np.arange(len(train), len(rest)))]
    for row in json.loads(path.read_text())["rows"]:
        clf = HyperOptimizer(row["method"], cv=cv, refit=False, max_iter=4).fit(
            X[rest], y[rest])
        assert row["log_alpha"] == pytest.approx(clf.log_alpha_[0], rel=1e-12)
        z = y[held] * (X[held] @ clf.coef_[0] + clf.intercept_[0])
        assert row["heldout_loss"] == pytest.approx(np.mean(np.logaddexp(0, -z)),
                                                    rel=1e-10)
        ref = LogisticRegression(C=np.exp(-row["log_alpha"]), tol=1e-10, max_iter=10_000)
        ref.fit(X[train], y[train])
        z = y[held] * ref.decision_function(X[held])
        assert row["heldout_loss"] == pytest.approx(np.mean(np.logaddexp(0, -z)), rel=2e-2)
        # outer loss per sample at the answer, as best_score_ says
        assert row["outer_loss"] == pytest.approx(-clf.best_score_, rel=1e-12)
        assert row["outer_loss"] == pytest.approx(
            [r for r in clf.history_ if r["answer"]][0]["outer_loss"] / len(outer),
            rel=1e-12)
    # the legend explains the columns
    flat = " ".join(out.split())
    assert "per outer sample" in flat and "rejected steps included" in flat
    assert "stopped:" in out


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_output_file(tmp_path, capsys, suffix):
    path = tmp_path / f"res{suffix}"
    status, out, _ = run(FAST + ["--output", str(path)], capsys)
    assert status == 0 and f"results written to {path}" in out
    printed = table_rows(out, {"cg", "shine"})
    if suffix == ".json":
        payload = json.loads(path.read_text())
        rows = payload["rows"]
        assert payload["dataset"] == "breast-cancer" and payload["n_samples"] == 569
        assert not payload["interrupted"] and "heldout_loss" in payload["legend"]
    else:
        with path.open() as f:
            rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["cg", "shine"]
    for r in rows:
        assert float(r["heldout_loss"]) == pytest.approx(
            float(printed[r["method"]][2]), abs=1e-5)
        assert float(r["C"]) == pytest.approx(np.exp(-float(r["log_alpha"])), rel=1e-12)
        assert r["stop_reason"]


def test_progress_lines_when_asked(capsys):
    status, _, err = run(FAST + ["-v"], capsys)
    assert status == 0
    steps = [line for line in err.splitlines() if "outer it" in line and "/4 " in line]
    assert len(steps) >= 2 and all("elapsed" in line for line in steps)
    assert any("left)" in line for line in steps)
    assert [line.split("]")[0] for line in err.splitlines() if "held-out loss" in line] \
        == ["[1/2 cg", "[2/2 shine"]
    _, _, err = run(FAST + ["-q"], capsys)
    assert err == ""


def test_warning_at_bound_is_visible(capsys):
    """The unconstrained optimum is near log(alpha) = 0: a box [2, 12] stops at 2."""
    status, out, err = run(FAST + ["--lambda-bounds", "2", "12"], capsys)
    assert status == 0
    rows = table_rows(out, {"cg", "shine"})
    assert all(float(v[0]) == 2.0 and int(v[7]) >= 1 for v in rows.values())
    assert out.count("warning: ConvergenceWarning") == 2
    assert "lower bound 2" in out


def test_interrupt_keeps_finished_methods(capsys, monkeypatch):
    """Ctrl-C during the second method: the first is printed, the status is 130."""
    real = cli_output.ProgressPrinter.step

    def step(self, text=""):
        if self._name == "shine" and self._steps >= 1:
            raise KeyboardInterrupt
        real(self, text)

    monkeypatch.setattr(cli_output.ProgressPrinter, "step", step)
    status, out, err = run(FAST, capsys)
    assert status == 130
    assert "interrupted; 1 of 2 methods finished" in err
    assert set(table_rows(out, {"cg", "shine"})) == {"cg"}
    assert "Traceback" not in err


def test_sigint_to_a_running_command(tmp_path):
    """A real SIGINT: one line, no traceback, what finished is kept."""
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hoag_shine.cli", "--max-iter", "200", "-v",
         "--methods", "jacobian-free", "exact", "--regularization", "per-feature",
         "--output", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait for the second method's first step: the first one is finished
    first = ""
    while "[2/2 exact] outer it" not in first:
        first = proc.stderr.readline()
        assert first, "the command ended before its second method"
    proc.send_signal(signal.SIGINT)
    stdout, rest = proc.communicate(timeout=120)
    stderr = first + rest
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    payload = json.loads(out.read_text())
    assert payload["interrupted"] is True
    assert [r["method"] for r in payload["rows"]] == ["jacobian-free"]
    assert "jacobian-free: stopped:" in stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hoag-shine {cli.__version__}"


def test_libsvm_file_and_environment_data_home(tmp_path, capsys, monkeypatch):
    X, y = make_classification(200, 6, random_state=0)
    (tmp_path / "libsvm").mkdir()
    dump_svmlight_file(X, y, str(tmp_path / "libsvm" / "toy.svm"))
    status, out, _ = run(["--dataset", str(tmp_path / "libsvm" / "toy.svm"),
                          "--methods", "shine-opa", "--max-iter", "3"], capsys)
    assert status == 0 and "200 samples, 6 features" in out
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path))
    status, out, _ = run(["--dataset", "libsvm-file", "--dataset-path", "toy.svm",
                          "--methods", "cg", "--max-iter", "2"], capsys)
    assert status == 0 and "200 samples, 6 features" in out


def write(path, text):
    path.write_text(text)
    return str(path)


def data_files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    files = {}
    for name, labels in (("one", np.ones(60)), ("three", np.arange(60) % 3)):
        files[name] = str(tmp_path / f"{name}.svm")
        dump_svmlight_file(X, labels, files[name])
    files["empty"] = write(tmp_path / "empty.svm", "")
    files["text"] = write(tmp_path / "text.svm", "hello world\nnot libsvm\n")
    files["binary"] = str(tmp_path / "binary.svm")
    Path(files["binary"]).write_bytes(bytes(range(256)) * 3)
    files["two"] = write(tmp_path / "two.svm", "1 1:1\n-1 1:2\n")
    files["nan"] = write(tmp_path / "nan.svm", "1 1:nan 2:3\n-1 1:2 2:1\n" * 20)
    return files


@pytest.mark.parametrize("case, argv, status, message", [
    ("max-iter 0", ["--max-iter", "0"], 2, "--max-iter: expected a positive integer"),
    ("max-iter float", ["--max-iter", "1.5"], 2, "positive integer"),
    ("seed -1", ["--seed", "-1"], 2, "--seed: expected an integer >= 0"),
    ("unknown method", ["--methods", "foo"], 2, "unknown method 'foo'"),
    ("unknown data set", ["--dataset", "no-such"], 2, "unknown data set 'no-such'"),
    ("bad output", ["--output", "res.txt"], 2, "must end in .csv or .json"),
    ("output dir", ["--output", "/no/such/dir/res.csv"], 2, "no such directory"),
    ("bounds", ["--lambda-bounds", "3", "1"], 2, "LOW < HIGH"),
    ("bounds nan", ["--lambda-bounds", "nan", "1"], 2, "finite number"),
    ("path missing", ["--dataset", "libsvm-file"], 2, "needs a path"),
    ("path alone", ["--dataset-path", "x.svm"], 2,
     "--dataset-path is read with --dataset libsvm-file"),
    ("empty", ["@empty"], 1, "holds no sample"),
    ("text", ["@text"], 1, "is not a readable LIBSVM file"),
    ("binary", ["@binary"], 1, "is not a readable LIBSVM file"),
    ("one class", ["@one"], 1, "got 1"),
    ("three classes", ["@three"], 1, "got 3"),
    ("two samples", ["@two"], 1, "every part needs both classes"),
    ("NaN", ["@nan"], 1, "NaN or infinite"),
    ("20news absent", ["--dataset", "20news", "--data-home", "@dir"], 1,
     "20newsgroup_vectorized_py3.pkl"),
    ("file absent", ["--dataset", "libsvm-file", "--dataset-path", "@dir/x.svm"], 1,
     "does not exist"),
    ("unknown method", ["--methods", "hoag-cg"], 2, "unknown method 'hoag-cg'; choose one of"),
    ("unknown data set", ["--dataset", "breast_cancer"], 2, "breast-cancer"),
])
def test_expected_errors_are_one_line(tmp_path, capsys, case, argv, status, message):
    files = data_files(tmp_path)
    argv = [a.replace("@dir", str(tmp_path / "nothing")) for a in argv]
    if argv[0].startswith("@"):
        argv = ["--dataset", files[argv[0][1:]]]
    try:
        code = cli.main(argv + ["--max-iter", "2", "-q"] if "--max-iter" not in argv
                        else argv)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    assert code == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hoag-shine: error:"), err
    assert message in lines[0]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_rewrites_one_line():
    stream = Terminal()
    progress = cli_output.ProgressPrinter(2, 3, verbose=1, stream=stream)
    progress.start_task("cg")
    progress.step("outer it 1/3")
    progress.step("outer it 2/3")
    assert "\n" not in stream.getvalue()
    assert stream.getvalue().count("\r") == 2 and "[1/2 cg] outer it 2/3" in stream.getvalue()
    progress.end_task("done")
    last = stream.getvalue().split("\r")[-1]
    assert last.startswith("\x1b[K[1/2 cg] done") and last.endswith("left)\n")
    assert np.isnan(cli_output.ProgressPrinter(2, 3).remaining())  # nothing done yet


def test_format_duration():
    assert [cli_output.format_duration(s) for s in (0.421, 12.4, 185, 3725)] == \
        ["0.42 s", "12 s", "3 min 05 s", "1 h 02 min"]


# -- output that is never lost ----------------------------------------------------


class ClosedPipe(io.StringIO):
    """A standard stream whose reader has gone: every write fails as on a closed pipe."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("closed", ["stdout", "stderr", "both"])
def test_a_closed_stream_loses_no_file(tmp_path, capsys, monkeypatch, closed):
    path = tmp_path / "res.json"
    for name in ("stdout", "stderr") if closed == "both" else (closed,):
        monkeypatch.setattr(sys, name, ClosedPipe())
    status = cli.main(FAST + ["-vv", "--output", str(path)])
    assert status == 1  # Python's status for a broken pipe
    payload = json.loads(path.read_text())
    assert [r["method"] for r in payload["rows"]] == ["cg", "shine"]
    assert not payload["interrupted"]
    monkeypatch.undo()
    if closed == "stderr":  # the table still reached the open stdout
        assert set(table_rows(capsys.readouterr().out, {"cg", "shine"})) == {"cg", "shine"}


@pytest.mark.parametrize("argv", [FAST + ["-vv"], ["--help"]])
def test_a_command_writing_into_a_closed_pipe_ends_quietly(tmp_path, argv):
    """``hoag-shine ... | head -c 10`` in a real process: no traceback, no "Exception
    ignored" at exit, status 1, and the file written whole."""
    path = tmp_path / "res.json"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hoag_shine.cli", *argv, "--output", str(path)],
            cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert "BrokenPipeError" not in proc.stderr
    if "--help" not in argv:
        assert [r["method"] for r in json.loads(path.read_text())["rows"]] == ["cg", "shine"]


def test_a_method_reported_done_is_kept(tmp_path, capsys, monkeypatch):
    """Ctrl-C just after the line saying that the first method finished."""
    real = cli_output.ProgressPrinter.end_task

    def end_task(self, text=""):
        real(self, text)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_output.ProgressPrinter, "end_task", end_task)
    path = tmp_path / "res.json"
    status, out, err = run(FAST + ["--output", str(path)], capsys)
    assert status == 130
    reported = [line.split()[1].rstrip("]") for line in err.splitlines()
                if "held-out loss" in line]
    assert reported == ["cg"]
    assert set(table_rows(out, {"cg", "shine"})) == {"cg"}
    assert [r["method"] for r in json.loads(path.read_text())["rows"]] == ["cg"]
    assert "interrupted; 1 of 2 methods finished" in err


def test_file_is_written_before_the_table(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the table is printed: the file holds every method."""
    def interrupted(rows, per_feature=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "format_table", interrupted)
    path = tmp_path / "res.csv"
    status, _, err = run(FAST + ["--output", str(path)], capsys)
    assert status == 130 and "Traceback" not in err
    with path.open() as f:
        assert [r["method"] for r in csv.DictReader(f)] == ["cg", "shine"]


def test_a_failing_method_keeps_those_before_it(tmp_path, capsys, monkeypatch):
    class FailingShine(HyperOptimizer):
        def fit(self, X, y, sample_weight=None):
            if self.method == "shine":
                raise ValueError("no luck")
            return super().fit(X, y, sample_weight)

    monkeypatch.setattr(cli, "HyperOptimizer", FailingShine)
    path = tmp_path / "res.json"
    status, out, err = run(FAST + ["--output", str(path)], capsys)
    assert status == 1
    assert err.strip().splitlines()[-1] == "hoag-shine: error: method shine: no luck"
    assert set(table_rows(out, {"cg", "shine"})) == {"cg"}
    payload = json.loads(path.read_text())
    assert [r["method"] for r in payload["rows"]] == ["cg"] and payload["interrupted"]


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_an_interrupted_write_leaves_the_previous_file(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"res{suffix}"
    path.write_text("previous\n")
    rows = cli.compare(*load_dataset("breast-cancer"), ["cg", "shine"], max_iter=2)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerow", interrupted)
    monkeypatch.setattr(cli_output.json, "dumps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli_output.write_output(path, rows, {})
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
