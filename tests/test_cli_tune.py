"""``hoag-shine tune``: files of any number of classes, its outputs, its errors; the
light ``--version``."""
import configparser
import csv
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, make_classification

import hoag_shine
import hoag_shine_cli
from hoag_shine import HyperOptimizer, cli

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
FAST = ["--max-iter", "5"]


def run(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def three_classes():
    X, y = make_classification(120, 5, n_informative=4, n_redundant=0, n_classes=3,
                               random_state=0)
    return X, y


def libsvm_file(tmp_path, X, y):
    path = tmp_path / "three.svm"
    dump_svmlight_file(X, y, str(path))
    return str(path)


def csv_file(tmp_path, X, labels, header=True, name="three.csv"):
    lines = [",".join([f"x{j}" for j in range(X.shape[1])] + ["label"])] if header else []
    lines += [",".join([repr(float(v)) for v in row] + [str(label)])
              for row, label in zip(X, labels)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def direct_fit(X, y, **params):
    params = dict(dict(max_iter=5, random_state=0), **params)
    return HyperOptimizer(**params).fit(X, y)


@pytest.mark.parametrize("output_format", ["json", "csv"])
@pytest.mark.parametrize("where", ["stdout", "file"])
def test_three_class_libsvm_file_as_a_direct_fit(tmp_path, capsys, three_classes,
                                                  output_format, where):
    X, y = three_classes
    argv = ["tune", "--data", libsvm_file(tmp_path, X, y), *FAST]
    path = tmp_path / f"report.{output_format}"
    argv += (["--format-out", output_format] if where == "stdout"
             else ["--output", str(path)])
    status, out, err = run(argv, capsys)
    assert status == 0, err
    text = out if where == "stdout" else path.read_text()
    ref = direct_fit(X, y)
    if output_format == "json":
        report = json.loads(text)
        log_alpha = report["log_alpha"]
        assert report["classes"] == [0, 1, 2] and report["n_classes"] == 3
        assert report["stop_reason"] == ref.stop_reason_
        assert report["best_score"] == pytest.approx(ref.best_score_, abs=1e-10)
        assert (report["n_samples"], report["n_features"]) == (120, 5)
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        log_alpha = [float(r["log_alpha"]) for r in rows]
        assert rows[0]["stop_reason"] == ref.stop_reason_
    np.testing.assert_allclose(log_alpha, ref.log_alpha_, rtol=0, atol=1e-10)
    if where == "file":
        assert f"written: {path}" in out and "3 classes" in out


@pytest.mark.parametrize("header", [True, False])
def test_csv_with_and_without_header_words_as_labels(tmp_path, capsys, three_classes,
                                                     header):
    X, y = three_classes
    words = np.array(["ant", "bee", "cat"])[y]
    path = csv_file(tmp_path, X, words, header=header)
    status, out, err = run(["tune", "--data", path, *FAST, "--format-out", "json"],
                           capsys)
    assert status == 0, err
    report = json.loads(out)
    assert report["classes"] == ["ant", "bee", "cat"] and report["n_samples"] == 120
    np.testing.assert_allclose(report["log_alpha"], direct_fit(X, words).log_alpha_,
                               rtol=0, atol=1e-10)


def test_label_column_by_name_and_explicit_format(tmp_path, capsys, three_classes):
    X, y = three_classes
    path = tmp_path / "data.dat"
    lines = ["label," + ",".join(f"x{j}" for j in range(5))]
    lines += [f"{label}," + ",".join(repr(float(v)) for v in row) for row, label in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    status, out, err = run(["tune", "--data", str(path), "--format", "csv",
                            "--label-column", "label", *FAST, "--format-out", "json"],
                           capsys)
    assert status == 0, err
    np.testing.assert_allclose(json.loads(out)["log_alpha"], direct_fit(X, y).log_alpha_,
                               rtol=0, atol=1e-10)


def test_cv_scoring_per_feature_and_saved_model(tmp_path, capsys, three_classes):
    X, y = three_classes
    model = tmp_path / "model.pkl"
    status, out, err = run(["tune", "--data", libsvm_file(tmp_path, X, y), *FAST,
                            "--cv", "3", "--scoring", "neg_brier_score",
                            "--regularization", "per-feature", "--class-weight",
                            "balanced", "--no-fit-intercept", "--tol", "1e-3",
                            "--save-model", str(model), "--format-out", "json"], capsys)
    assert status == 0, err
    report = json.loads(out)
    ref = direct_fit(X, y, cv=3, scoring="neg_brier_score", regularization="per-feature",
                     class_weight="balanced", fit_intercept=False, tol=1e-3)
    assert len(report["log_alpha"]) == 5 and report["cv"] == 3
    assert report["scoring"] == "neg_brier_score"
    np.testing.assert_allclose(report["log_alpha"], ref.log_alpha_, rtol=0, atol=1e-10)
    with model.open("rb") as f:
        saved = pickle.load(f)
    np.testing.assert_array_equal(saved.predict(X), ref.predict(X))
    np.testing.assert_allclose(saved.predict_proba(X), ref.predict_proba(X),
                               rtol=0, atol=1e-10)
    assert [p.name for p in tmp_path.iterdir()] == ["three.svm", "model.pkl"]


def test_summary_is_the_default_and_progress_goes_to_stderr(tmp_path, capsys,
                                                            three_classes):
    X, y = three_classes
    status, out, err = run(["tune", "--data", libsvm_file(tmp_path, X, y), *FAST, "-v"],
                           capsys)
    assert status == 0
    assert "120 samples, 5 features, 3 classes" in out and "stopped:" in out
    assert "[HyperOptimizer]" in err and "[HyperOptimizer]" not in out


def test_compare_stays_the_default(capsys):
    """Without a sub-command the arguments are those of compare; --output json prints
    the rows, every strength and the stop reason's code among them."""
    argv = ["--methods", "cg", "--max-iter", "2", "-q", "--regularization", "per-feature",
            "--output", "json"]
    reports = []
    for command in ([], ["compare"]):
        status, out, err = run(command + argv, capsys)
        assert status == 0 and "569 samples" in err
        reports.append(json.loads(out)["rows"])
    for rows in reports:
        for row in rows:
            del row["time"], row["time_backward"]
    assert reports[0] == reports[1]
    row = reports[0][0]
    assert row["stop_reason"] == "max_iter" and len(row["log_alphas"]) == 30
    assert row["log_alpha"] == pytest.approx(np.mean(row["log_alphas"]), abs=1e-12)


def error_files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    files = {"one": str(tmp_path / "one.svm")}
    dump_svmlight_file(X, np.ones(30), files["one"])
    files["nan"] = csv_file(tmp_path, np.r_[X[:-1], [[np.nan, 1.0]]], np.arange(30) % 2,
                            name="nan.csv")
    files["word"] = str(tmp_path / "word.csv")
    Path(files["word"]).write_text("1,2,0\n3,oops,1\n")
    files["ragged"] = str(tmp_path / "ragged.csv")
    Path(files["ragged"]).write_text("1,2,0\n3,1\n")
    files["empty"] = str(tmp_path / "empty.csv")
    Path(files["empty"]).write_text("")
    files["text"] = str(tmp_path / "text.svm")
    Path(files["text"]).write_text("hello world\n")
    files["binary"] = str(tmp_path / "binary.svm")
    Path(files["binary"]).write_bytes(bytes(range(256)) * 3)
    files["odd"] = str(tmp_path / "data.xyz")
    Path(files["odd"]).write_text("1 1:2\n")
    return files


@pytest.mark.parametrize("argv, status, message", [
    (["--data", "@one"], 1, "at least two classes are needed, got 1"),
    (["--data", "@nan"], 1, "NaN or infinite"),
    (["--data", "@word"], 1, "line 2: 'oops' is not a number"),
    (["--data", "@ragged"], 1, "line 2: 2 cells where the first line has 3"),
    (["--data", "@empty"], 1, "holds no sample"),
    (["--data", "@text"], 1, "is not a readable LIBSVM file"),
    (["--data", "@binary"], 1, "is not a readable LIBSVM file"),
    (["--data", "@dir/missing.svm"], 1, "does not exist"),
    (["--data", "@odd"], 2, "cannot tell the format"),
    (["--data", "@nan", "--label-column", "nope"], 1, "no column named 'nope'"),
    (["--data", "@nan", "--label-column", "7"], 1, "label column 7 out of range"),
    (["--data", "@one", "--scoring", "accuracy"], 2, "invalid choice: 'accuracy'"),
    (["--data", "@one", "--cv", "1"], 2, "expected an integer >= 2"),
    (["--data", "@one", "--tol", "-1"], 2, "expected a positive number"),
    (["--data", "@one", "--method", "nope"], 2, "unknown method 'nope'"),
    (["--data", "@one", "--output", "report.txt"], 2, "must end in .json or .csv"),
    (["--data", "@one", "--save-model", "@dir/no/m.pkl"], 2, "no such directory"),
    ([], 2, "the following arguments are required: --data"),
])
def test_errors_are_one_line(tmp_path, capsys, argv, status, message):
    files = error_files(tmp_path)
    argv = [files[a[1:]] if a[1:] in files else a.replace("@dir", str(tmp_path / "x"))
            for a in argv]
    try:
        code = cli.main(["tune", *argv, "--max-iter", "2"])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    _, err = capsys.readouterr()
    assert code == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hoag-shine"), err
    assert "error:" in lines[0] and message in lines[0]


def test_an_unexpected_error_is_one_line(tmp_path, capsys, monkeypatch, three_classes):
    def broken(*args, **kwargs):
        raise RuntimeError("out of luck")

    monkeypatch.setattr(HyperOptimizer, "fit", broken)
    status, _, err = run(["tune", "--data", libsvm_file(tmp_path, *three_classes)], capsys)
    assert status == 1
    assert err == "hoag-shine: error: RuntimeError: out of luck\n"


def test_tune_into_a_closed_pipe_ends_quietly(tmp_path, three_classes):
    """``hoag-shine tune ... | head -c 10`` in a real process: the reader has gone
    before the first byte; no traceback, status 1 (Python's for a broken pipe), and
    the model saved all the same."""
    model = tmp_path / "m.pkl"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hoag_shine.cli", "tune", "--data",
             libsvm_file(tmp_path, *three_classes), *FAST, "--format-out", "json",
             "--save-model", str(model)],
            cwd=ROOT, env=ENV, stdout=write_end, stderr=subprocess.PIPE, text=True,
            timeout=300)
    finally:
        os.close(write_end)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert pickle.loads(model.read_bytes()).classes_.tolist() == [0, 1, 2]


def test_version_does_not_import_the_numerical_stack():
    code = ("import sys, hoag_shine_cli; status = hoag_shine_cli.main(['--version']); "
            "heavy = [m for m in ('numpy', 'scipy', 'sklearn', 'hoag_shine') "
            "if m in sys.modules]; assert not heavy and status == 0, heavy")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"hoag-shine {hoag_shine.__version__}\n"


def test_entry_point_runs_the_command(capsys):
    """The console script is hoag_shine_cli:main, which hands anything but --version on."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["options"]["py_modules"].split() == ["hoag_shine_cli"]
    assert "hoag-shine = hoag_shine_cli:main" in config["options.entry_points"][
        "console_scripts"]
    assert hoag_shine_cli.source_version() == hoag_shine.__version__
    with pytest.raises(SystemExit) as info:
        hoag_shine_cli.main(["tune"])
    assert info.value.code == 2
    assert "required: --data" in capsys.readouterr().err
