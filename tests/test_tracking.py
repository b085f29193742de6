"""Callbacks and experiment tracking: the public hooks of ``lf.train(..., callbacks=[...])``, and the TensorBoard
and MLflow loggers, read back with TensorBoard's and MLflow's own readers."""

import io
import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

import latentforge as lf
from latentforge.cli.main import main

SMALL = dict(hidden=(16,), latent_dim=2, batch_size=64, seed=3, progress=False)


@pytest.fixture(scope="module")
def small_digits(digits):
    return digits.subset(np.arange(400))


class Recorder(lf.Callback):
    def __init__(self, fail_at=None):
        self.calls, self.fail_at = [], fail_at

    def on_fit_start(self, run):
        self.calls.append(("start", run.name, len(run.history)))

    def on_epoch_end(self, trainer, row):
        self.calls.append(("epoch", row["epoch"], row["train_loss"]))
        if row["epoch"] == self.fail_at:
            raise RuntimeError("stop here")

    def on_fit_end(self, run):
        self.calls.append(("end", len(run.history), (run.run_dir / "model.safetensors").exists()))

    def on_fit_error(self, run, error):
        self.calls.append(("error", str(error)))


def test_callback_hooks_run_in_order_after_the_checkpoint(small_digits, tmp_path):
    seen_checkpoint = []
    rec = Recorder()
    run = lf.train("ae", small_digits, out=tmp_path / "r", epochs=3, callbacks=[
        rec, lambda trainer, row: seen_checkpoint.append((tmp_path / "r" / "checkpoint.safetensors").exists())],
        **SMALL)
    assert rec.calls[0] == ("start", "ae", 0)
    assert rec.calls[1:4] == [("epoch", e, h["train_loss"]) for e, h in zip((1, 2, 3), run.history)]
    assert rec.calls[4] == ("end", 3, True)  # after the run directory is written
    assert seen_checkpoint == [True, True, True]  # a plain function runs after each epoch, after the checkpoint
    resumed = Recorder()
    lf.train("ae", small_digits, out=tmp_path / "r", epochs=4, resume=True, callbacks=[resumed], **SMALL)
    assert [c[1] for c in resumed.calls if c[0] == "epoch"] == [4]


def test_a_failing_callback_stops_training_and_every_callback_hears_of_it(small_digits):
    bad, other = Recorder(fail_at=2), Recorder()
    with pytest.raises(RuntimeError, match="stop here"):
        lf.train("ae", small_digits, epochs=4, callbacks=[bad, other], **SMALL)
    assert [c[0] for c in bad.calls] == ["start", "epoch", "epoch", "error"]
    assert other.calls[-1] == ("error", "stop here") and ("end", 2, True) not in other.calls


@pytest.mark.parametrize("given,message", [
    (Recorder(), "takes a list"),
    ([Recorder], "the class Recorder, not an instance"),
    ([42], "give latentforge.Callback objects"),
])
def test_wrong_callbacks_are_refused_before_training(small_digits, given, message):
    with pytest.raises(lf.ConfigError, match=message):
        lf.train("ae", small_digits, epochs=1, callbacks=given, **SMALL)


def test_missing_extras_name_the_install(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorboardX", "mlflow") else real(name, *a))
    with pytest.raises(lf.ConfigError, match=r"pip install 'latentforge\[tensorboard\]'"):
        lf.TensorBoardLogger(tmp_path)
    with pytest.raises(lf.ConfigError, match=r"pip install 'latentforge\[mlflow\]'"):
        lf.MLflowLogger(tmp_path)


def test_log_to_is_checked_in_one_line(capsys, tmp_path):
    for spec, message in (("wandb:runs", "unknown tracker 'wandb'; use tensorboard:DIR or mlflow:DIR"),
                          ("tensorboard", "say where to log, e.g. --log-to tensorboard:runs/tensorboard")):
        code = main(["train", "ae", "--data", "digits", "--out", str(tmp_path / "r"), "--log-to", spec])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "r").exists()


def read_tensorboard(log_dir):
    pytest.importorskip("tensorboard", reason="reading the event files needs tensorboard (pip install "
                                              "'latentforge[test]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_tensorboard_gets_metrics_learning_rates_and_sample_grids_of_a_gan(small_digits, tmp_path):
    pytest.importorskip("tensorboardX", reason="the TensorBoard logger needs pip install 'latentforge[tensorboard]'")
    gan = {k: v for k, v in SMALL.items() if k != "hidden"}
    run = lf.train("gan", small_digits, out=tmp_path / "gan", epochs=4, sample_every=2, g_hidden=(16,),
                   d_hidden=(16,), callbacks=[lf.TensorBoardLogger(tmp_path / "tb")], **gan)
    acc = read_tensorboard(tmp_path / "tb" / "gan")  # one folder per run, named after the run directory
    tags = acc.Tags()
    for key in ("d_loss", "g_loss", "lr_g", "lr_d", "d_real", "seconds"):
        assert key in tags["scalars"], key
        assert [e.step for e in acc.Scalars(key)] == [1, 2, 3, 4]
        np.testing.assert_allclose([e.value for e in acc.Scalars(key)], [h[key] for h in run.history], rtol=1e-6)
    # the GAN's own --sample-every schedule; 8x8 digits in an 8x8 grid with one-pixel gaps
    images = acc.Images("samples")
    assert [im.step for im in images] == [2, 4]
    grid = png(images[-1].encoded_image_string)
    assert grid.shape == (8 * 9 + 1, 8 * 9 + 1, 3) and grid.std() > 10
    assert "config/text_summary" in tags["tensors"]
    config = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"model": "gan"' in config


def test_tensorboard_logs_no_images_for_vectors_and_continues_on_resume(rng, tmp_path):
    pytest.importorskip("tensorboardX", reason="the TensorBoard logger needs pip install 'latentforge[tensorboard]'")
    x = rng.normal(size=(200, 6)).astype(np.float32)
    kw = dict(SMALL, out=tmp_path / "vec", callbacks=None)
    lf.train("vae", x, epochs=2, **{**kw, "callbacks": [lf.TensorBoardLogger(tmp_path / "tb")]})
    lf.train("vae", x, epochs=3, resume=True, **{**kw, "callbacks": [lf.TensorBoardLogger(tmp_path / "tb")]})
    acc = read_tensorboard(tmp_path / "tb" / "vec")
    assert acc.Tags()["images"] == []
    assert [e.step for e in acc.Scalars("val_loss")] == [1, 2, 3]


def test_mlflow_run_holds_params_metrics_config_and_sample_grids(small_digits, tmp_path):
    pytest.importorskip("mlflow", reason="the MLflow logger needs pip install 'latentforge[mlflow]'")
    run = lf.train("vae", small_digits, out=tmp_path / "vae", epochs=3,
                   callbacks=[lf.MLflowLogger(tmp_path / "mlruns", experiment="digits")], **SMALL)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("digits")
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_name == "vae" and found.info.status == "FINISHED"
    assert found.data.params["model.latent_dim"] == "2" and found.data.params["train.epochs"] == "3"
    assert found.data.params["model.hidden"] == "[16]" and found.data.tags["latentforge.model"] == "vae"
    for key in ("train_loss", "val_loss", "val_kl", "lr"):
        history = client.get_metric_history(found.info.run_id, key)
        assert sorted(m.step for m in history) == [1, 2, 3]
        np.testing.assert_allclose([m.value for m in sorted(history, key=lambda m: m.step)],
                                   [h[key] for h in run.history], rtol=1e-6)
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"config.json", "samples"} <= artifacts
    samples = sorted(a.path for a in client.list_artifacts(found.info.run_id, "samples"))
    assert samples == [f"samples/epoch_000{e}.png" for e in (1, 2, 3)]  # a VAE: every epoch
    local = client.download_artifacts(found.info.run_id, "", str(tmp_path / "dl"))
    assert png(open(f"{local}/samples/epoch_0003.png", "rb").read()).shape == (8 * 9 + 1, 8 * 9 + 1, 3)
    assert json.load(open(f"{local}/config.json"))["model_config"]["latent_dim"] == 2


def test_mlflow_run_is_marked_failed_when_training_stops(small_digits, tmp_path):
    pytest.importorskip("mlflow", reason="the MLflow logger needs pip install 'latentforge[mlflow]'")
    with pytest.raises(RuntimeError, match="stop here"):
        lf.train("ae", small_digits, epochs=3, callbacks=[lf.MLflowLogger(tmp_path / "mlruns"), Recorder(fail_at=1)],
                 **SMALL)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("latentforge").experiment_id])
    assert found.info.status == "FAILED" and found.info.run_name == "ae"  # no run directory: the model's name


def test_cli_log_to_is_repeatable(capsys, tmp_path):
    pytest.importorskip("tensorboardX", reason="the TensorBoard logger needs pip install 'latentforge[tensorboard]'")
    pytest.importorskip("mlflow", reason="the MLflow logger needs pip install 'latentforge[mlflow]'")
    code = main(["train", "ae", "--data", "digits", "--epochs", "2", "--hidden", "16", "--latent-dim", "2",
                 "--out", str(tmp_path / "cli"), "--no-progress", "--log-to", f"tensorboard:{tmp_path / 'tb'}",
                 "--log-to", f"mlflow:{tmp_path / 'ml'}"])
    assert code == 0, capsys.readouterr().err
    acc = read_tensorboard(tmp_path / "tb" / "cli")
    assert [e.step for e in acc.Scalars("train_loss")] == [1, 2]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "ml").as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("latentforge").experiment_id])
    assert found.info.run_name == "cli" and sorted(m.step for m in client.get_metric_history(
        found.info.run_id, "train_loss")) == [1, 2]
