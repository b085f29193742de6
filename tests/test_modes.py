"""Mode collapse: the 2-D benchmarks (the data, the counting of modes and high-quality samples, evaluate) and the
sentence that names the classes a generator drops on labelled data."""

import json

import numpy as np
import pytest

import latentforge as lf
from latentforge.cli.main import main
from latentforge.domains.modes.benchmarks import MODE_BENCHMARKS, mode_statistics


@pytest.mark.parametrize("name,modes", [("ring8", 8), ("grid25", 25), ("cs771-ring", 16)])
def test_benchmark_data_cover_every_mode_with_high_quality_points(name, modes):
    ds = lf.load_dataset(name)
    assert ds.x.shape == (10000, 2) and ds.y.shape == (10000,) and set(np.unique(ds.y)) == set(range(modes))
    np.testing.assert_array_equal(ds.x, lf.load_dataset(name).x)  # generated with a fixed seed
    s = mode_statistics(MODE_BENCHMARKS.get(name), ds.x[:2500])
    assert s["modes_covered"] == s["modes_total"] == modes
    # within 3 sd of a 2-D Gaussian's centre: 1 - exp(-4.5) = 98.9 %; the ring's radius: 99.4 %
    assert s["high_quality"] == pytest.approx(0.989 if name != "cs771-ring" else 0.994, abs=0.006)
    assert s["mode_kl"] < 0.01


def test_the_cs771_ring_is_the_stated_transformation():
    x = lf.load_dataset("cs771-ring").x.astype(np.float64)
    r = np.linalg.norm(x, axis=1)
    assert r.min() > 1.0 and r.mean() == pytest.approx(1 + 0.1 * np.sqrt(np.pi / 2), abs=0.003)


def test_collapsed_and_off_mode_samples_are_counted_as_such():
    ring = MODE_BENCHMARKS.get("ring8")
    one_mode = np.tile(ring.centres[3], (2500, 1)) + 0.01 * np.random.default_rng(0).normal(size=(2500, 2))
    s = mode_statistics(ring, one_mode)
    assert s["modes_covered"] == 1 and s["high_quality"] > 0.95 and s["mode_kl"] == pytest.approx(np.log(8), abs=1e-6)
    between = np.zeros((2500, 2))  # the ring's centre: far from every mode
    assert mode_statistics(ring, between)["high_quality"] == 0.0
    # a mode needs 20 high-quality samples per 2500 to count (PacGAN)
    few = np.concatenate([one_mode[:2481], np.tile(ring.centres[0], (19, 1))])
    assert mode_statistics(ring, few)["modes_covered"] == 1


def test_evaluate_reports_modes_and_draws_the_samples_over_the_density(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["train", "gan", "--data", "ring8", "--epochs", "1", "--g-hidden", "16", "--d-hidden", "16",
                 "--no-progress", "--out", str(out)]) == 0
    assert (out / "modes.png").exists()  # written with the run's plots
    (out / "modes.png").unlink()
    capsys.readouterr()
    assert main(["evaluate", "--json", str(out), "--data", "ring8"]) == 0
    result = json.loads(capsys.readouterr().out)
    m = result["modes"]
    assert "fd_classifier" not in result  # the known modes are counted directly, no feature classifier
    assert m["modes_total"] == 8 and 0 <= m["modes_covered"] <= 8 and 0 <= m["high_quality"] <= 1
    assert m["n_samples"] == 2500 and (out / "modes.png").exists()


def test_a_model_that_cannot_generate_is_told_why_it_is_not_scored_for_modes():
    run = lf.train("ae", "ring8", epochs=1, hidden=(8,), latent_dim=1, loss="mse", output="identity", progress=False)
    m = run.evaluate("ring8")
    assert "modes" not in m and "cannot generate" in m["skipped"]["modes"]


def test_the_dropped_classes_are_named_with_their_shares_in_percent():
    from latentforge.analysis.collapse import dropped_classes, mode_collapse_note

    real = {str(c): 0.1 for c in range(10)} | {"0": 0.098, "6": 0.102, "7": 0.100}
    fake = {"0": 0.001, "1": 0.12, "2": 0.11, "3": 0.11, "4": 0.11, "5": 0.11, "6": 0.003, "7": 0.15, "8": 0.14,
            "9": 0.146}
    assert dropped_classes(fake, real) == ["0", "6"]
    assert mode_collapse_note(fake, real) == ("mode collapse: classes 0, 6 have 0.1 %, 0.3 % of the samples (expected "
                                              "9.8 %, 10.2 %, their shares of the real data); 8 of 10 classes reach "
                                              "a quarter of their share")
    # a quarter of the share is the line: 2.4 % of an expected 10 % is dropped, 2.6 % is not
    near = {"a": 0.024, "b": 0.026, "c": 0.95}
    assert dropped_classes(near, {"a": 0.1, "b": 0.1, "c": 0.8}) == ["a"]
    one = mode_collapse_note(near, {"a": 0.1, "b": 0.1, "c": 0.8}, advice="train longer")
    assert one.startswith("mode collapse: class a has 2.4 % of the samples (expected 10.0 %, its share of the real "
                          "data); 2 of 3 classes") and one.endswith("; train longer")
    # without the real shares every class is expected at 1 / K: 1 / 3 here, a quarter of it 8.3 %
    assert dropped_classes(near) == ["a", "b"]
    assert mode_collapse_note({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) is None


def test_sample_quality_names_the_classes_a_generator_drops():
    import torch

    from latentforge.analysis.quality import FeatureClassifier, quality_metrics

    clf = FeatureClassifier((4,), 4)  # made to read a row's class as the index of its largest value
    with torch.no_grad():
        for layer in (clf.body[1], clf.body[3], clf.head):
            layer.weight.zero_()
            layer.bias.zero_()
            layer.weight[:4, :4] = torch.eye(4)
    rng = np.random.default_rng(0)

    def rows(classes):
        return (np.eye(4)[classes] + 0.1 * rng.random((len(classes), 4))).astype(np.float32)

    real = rows(np.repeat([0, 1, 2, 3], [40, 30, 20, 10]))
    fake = rows(np.repeat([0, 1, 3], [60, 38, 2]))  # class 2 absent, class 3 at 2 % of an expected 10 %
    m = quality_metrics(clf.eval(), {"classes": ["w", "x", "y", "z"]}, real, fake, n_boot=5)
    assert m["class_histogram_real"] == {"w": 0.4, "x": 0.3, "y": 0.2, "z": 0.1}
    assert m["class_histogram"] == {"w": 0.6, "x": 0.38, "y": 0.0, "z": 0.02}
    assert m["mode_collapse"].startswith("mode collapse: classes y, z have 0.0 %, 2.0 % of the samples (expected "
                                         "20.0 %, 10.0 %, their shares of the real data); 2 of 4 classes")
    assert "mode_collapse" not in quality_metrics(clf, {"classes": ["w", "x", "y", "z"]}, real, real, n_boot=5)


def test_evaluate_and_the_report_say_which_classes_a_collapsed_gan_drops(tmp_path, capsys):
    from latentforge.analysis.collapse import dropped_classes
    from latentforge.analysis.readable import summary_lines
    from latentforge.analysis.report import class_sections

    digits = lf.load_dataset("digits")
    data = tmp_path / "digits300.npz"
    np.savez(data, x=digits.x[:300], y=digits.y[:300])
    out = tmp_path / "g"
    assert main(["train", "gan", "--data", str(data), "--epochs", "1", "--g-hidden", "16", "--d-hidden", "16",
                 "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--json", str(out), "--data", str(data)]) == 0
    captured = capsys.readouterr()
    m = json.loads(captured.out)
    # one epoch of a tiny GAN drops digits; which ones follows from the two histograms by the quarter rule
    gone = [c for c, share in m["class_histogram"].items() if share < 0.25 * m["class_histogram_real"][c]]
    assert gone and dropped_classes(m["class_histogram"], m["class_histogram_real"]) == gone
    words = f"class {gone[0]} has" if len(gone) == 1 else f"classes {', '.join(gone)} have"
    assert m["mode_collapse"].startswith(f"mode collapse: {words} ")
    assert f"latentforge: warning: {m['mode_collapse']}" in captured.err
    # the text output of evaluate (these lines) and the report's paragraphs carry the same sentence
    assert f"  warning: {m['mode_collapse']}" in summary_lines(m)
    assert any(f"mode collapse: {words} " in p and "warn" in p for p in class_sections(m))
