"""Diagnostics catch the failure they name, each on a run built to fail: a critic schedule that never reaches the
generator, a conditional generator that gives one output per condition, a VAE whose posterior collapses."""

import json
import warnings

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.objectives.elbo import collapse_note
from latentforge.training import Trainer, TrainConfig

TINY = {"g_hidden": (16,), "d_hidden": (16,), "latent_dim": 4}


def caught(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(x.message) for x in w]


# ---------------------------------------------------------------------------------------------------- critic schedule
def test_critic_steps_are_counted_across_epochs_so_the_generator_trains(digits):
    """Own-data case 9: 100 digits give 2 batches of 64 per epoch, fewer than n_critic = 5. Counting per epoch the
    generator was never updated; counted over the fit it is updated after the 5th critic step (epoch 3)."""
    ds = digits.subset(np.arange(100))
    torch.manual_seed(0)
    initial = lf.build("wgan-gp", (1, 8, 8), **TINY)[0].generator.state_dict()
    common = dict(batch_size=64, seed=0, progress=False, sample_every=0, **TINY)
    run2, notes2 = caught(lambda: lf.train("wgan-gp", ds, epochs=2, **common))
    assert all(torch.equal(v, run2.model.generator.state_dict()[k]) for k, v in initial.items())
    assert any("the generator has not been updated" in n and "n_critic=5" in n for n in notes2), notes2
    assert not any("mode collapse" in n for n in notes2)  # the untrained generator is not blamed on collapse
    run3, notes3 = caught(lambda: lf.train("wgan-gp", ds, epochs=3, **common))
    assert run3.history[-1]["critic_steps"] == 6 and run3.history[-1]["generator_steps"] == 1
    assert not all(torch.equal(v, run3.model.generator.state_dict()[k]) for k, v in initial.items())
    assert not any("has not been updated" in n for n in notes3 if n.startswith("epoch 3"))


def test_critic_step_count_survives_resume_bit_exactly(digits, tmp_path):
    ds = digits.subset(np.arange(100))
    common = dict(batch_size=64, seed=0, progress=False, sample_every=0, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lf.train("wgan-gp", ds, out=tmp_path / "a", epochs=4, **common)
        lf.train("wgan-gp", ds, out=tmp_path / "b", epochs=2, **common)
        resumed = lf.train("wgan-gp", ds, out=tmp_path / "b", epochs=4, resume=True, **common)
    a = lf.io.load_tensors(tmp_path / "a" / "model.safetensors")[0]
    b = lf.io.load_tensors(tmp_path / "b" / "model.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[-1]["generator_steps"] == 1 and resumed.history[-1]["critic_steps"] == 8


# ---------------------------------------------------------------------------------------------------- collapse per condition
def one_output_per_class(model, examples: np.ndarray) -> None:
    """Wire a label-conditional MLP generator so that it ignores z and returns ``examples[k]`` for class k."""
    first, last = model.generator.linears[0], model.generator.linears[-1]
    k, latent = examples.shape[0], model.latent_dim
    with torch.no_grad():
        for layer in (first, last):
            layer.weight.zero_()
            layer.bias.zero_()
        first.weight[:k, latent:latent + k] = torch.eye(k)  # hidden unit j = one-hot j (LeakyReLU keeps it)
        target = torch.from_numpy(np.clip(examples.reshape(k, -1), 0.02, 0.98)).float()
        last.weight[:, :k] = torch.atanh(2 * target - 1).t()  # tanh output mapped to [0, 1] gives the example


def fit_one_output_per_class(digits, *, epochs: int, batch_size: int):
    """A cGAN wired to give one output per class, trained at lr 1e-12 (it stays as wired): (trainer, warnings)."""
    x = torch.from_numpy(digits.x[:600] / 16.0).float()
    c = torch.eye(10)[torch.from_numpy(digits.y[:600])]
    torch.manual_seed(0)
    model, obj = lf.build("cgan", (1, 8, 8), g_hidden=(16,), d_hidden=(16,), latent_dim=4, condition_dim=10)
    one_output_per_class(model, np.stack([digits.x[digits.y == k][0] / 16.0 for k in range(10)]))
    obj = type(obj)(obj.config.replace(lr_g=1e-12, lr_d=1e-12))
    trainer = Trainer(model, obj, TrainConfig(epochs=epochs, batch_size=batch_size), progress=False)
    _, notes = caught(lambda: trainer.fit({"x": x, "c": c}))
    return trainer, notes


def test_collapse_within_each_condition_is_caught(digits):
    """Own-data case 10: one output per class looks varied over all classes together; per condition it has no
    diversity at all."""
    trainer, notes = fit_one_output_per_class(digits, epochs=1, batch_size=100)
    row = trainer.history[-1]
    assert row["diversity"] > 0.35 * row["diversity_real"]  # the overall check alone would pass this generator
    assert row["diversity_within_condition_min"] < 0.01
    [note] = [n for n in notes if "within" in n]
    assert "within 10 of 10 conditions" in note and "class #0 (0.00x)" in note


def test_a_healthy_conditional_run_reports_diversity_per_condition(digits):
    run = lf.train("cgan", digits, epochs=1, batch_size=64, progress=False, sample_every=0, **TINY)
    assert run.history[-1]["diversity_within_condition_min"] > 0


# ---------------------------------------------------------------------------------------------------- posterior collapse
def test_collapse_note_names_the_active_units():
    kl = torch.tensor([0.0, 2.5, 0.0, 0.0, 1.2, 0.0])
    activity = torch.tensor([0.0, 0.9, 0.001, 0.0, 0.5, 0.0])
    note = collapse_note(kl, activity)
    assert note.startswith("posterior collapse: 2 of 6 latent dimensions are active") and "active units: 1, 4" in note
    assert collapse_note(kl, torch.tensor([0.9, 0.9, 0.9, 0.0, 0.0, 0.0])) == ""  # half active: no warning


def test_a_narrow_posterior_whose_means_barely_move_is_not_called_collapse():
    """KL of about 3.3 nats per dimension with means that vary little: informative codes, not a collapse."""
    kl = torch.full((16,), 3.3)
    activity = torch.full((16,), 0.004)
    assert collapse_note(kl, activity) == ""
    # the same means with a posterior equal to the prior (KL ~ 0) are a collapse
    assert collapse_note(torch.full((16,), 0.003), activity).startswith("posterior collapse: 0 of 16")


def test_vae_with_a_crushing_kl_weight_warns_of_posterior_collapse(digits):
    run, notes = caught(lambda: lf.train("vae", digits, latent_dim=4, hidden=(32,), beta=60.0, epochs=7,
                                         progress=False))
    collapse = [n for n in notes if "posterior collapse" in n]
    assert [n.split(":")[0] for n in collapse] == ["epoch 5", "epoch 7"]  # after 5 collapsed epochs, and the last
    assert "0 of 4 latent dimensions are active" in collapse[0] and "active units: none" in collapse[0]
    assert collapse[1].endswith("(for 7 epoch(s))")
    assert run.history[-1]["active_units"] == 0 and len(run.history[-1]["kl_per_dim"]) == 4


def test_a_healthy_vae_gets_no_collapse_warning(digits):
    """A VAE's first epochs pass through collapse (epoch 1 here has no active unit); that is not warned about."""
    run, notes = caught(lambda: lf.train("vae", digits, latent_dim=2, hidden=(64,), epochs=10, progress=False))
    assert run.history[0]["active_units"] == 0
    assert not any("posterior collapse" in n for n in notes)
    assert run.history[-1]["active_units"] == 2



def test_a_lasting_gan_diagnostic_is_said_once_and_logged_every_epoch(digits):
    """The one-output-per-class generator, barely trained (lr 1e-12), stays collapsed within each condition for all
    six epochs: one warning, not six; the run's log still records each epoch's diagnostics."""
    trainer, notes = fit_one_output_per_class(digits, epochs=6, batch_size=200)
    within = [n for n in notes if "mode collapse within" in n]
    assert len(within) == 1 and within[0].startswith("epoch 1:"), notes
    assert all(any("mode collapse within" in d for d in row["diagnostics"]) for row in trainer.history)
    assert len(trainer.history) == 6


def test_advice_speaks_the_callers_language(digits, capsys, tmp_path):
    """The same diagnostic names keyword arguments from Python and flags on the command line."""
    from latentforge.cli.main import main

    run, notes = caught(lambda: lf.train("vae", digits, latent_dim=4, hidden=(32,), beta=60.0, epochs=5,
                                         progress=False))
    [note] = [n for n in notes if "posterior collapse" in n]
    assert "a lower beta," in note and "warmup_epochs=10" in note and "--" not in note
    kept = [w for row in run.history for w in row.get("warnings", [])]  # the log keeps what was said
    assert kept and all("--" not in w for w in kept) and any("warmup_epochs=10" in w for w in kept)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert main(["train", "vae", "--data", "digits", "--latent-dim", "4", "--hidden", "32", "--beta", "60",
                     "--epochs", "5", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    [cli_note] = [str(x.message) for x in w if "posterior collapse" in str(x.message)]
    assert "a lower --beta," in cli_note and "--warmup-epochs 10" in cli_note
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("--warmup-epochs 10" in w for row in rows for w in row.get("warnings", []))


def test_evaluations_reasons_speak_the_callers_language(tmp_path, capsys):
    """A validation left out says why, naming keyword arguments from Python and flags from the command line."""
    from latentforge.cli.main import main

    x = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)  # no labels: no sample-quality metrics
    np.save(tmp_path / "x.npy", x)
    run = lf.train("gan", x, epochs=1, progress=False, **TINY)
    reason = run.evaluate(x)["skipped"]["sample_quality"]
    assert "(labels_key or labels)" in reason and "--" not in reason
    run.save(tmp_path / "gan")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "gan"), "--data", str(tmp_path / "x.npy"), "--json"]) == 0
    cli_reason = json.loads(capsys.readouterr().out)["skipped"]["sample_quality"]
    assert "(--labels-key or --labels)" in cli_reason


def test_gan_advice_from_python_names_switches_as_true():
    from latentforge.objectives.gan import COLLAPSE_ADVICE
    from latentforge.spelling import speak, switches

    model, objective = lf.build("gan", (4,))
    text = speak(COLLAPSE_ADVICE, switches(model.config, objective.config))
    assert "minibatch_std=True" in text and "r1_weight=1" in text and "loss='hinge'" in text and "--" not in text


def test_gan_collapse_advice_names_only_stabilisers_that_are_off():
    """The MLP GAN has minibatch std and spectral norm on by default: its collapse advice does not offer them."""
    from types import SimpleNamespace

    from latentforge.objectives.gan import advice_for_collapse

    on = SimpleNamespace(config=SimpleNamespace(minibatch_std=True, spectral_norm=True))
    off = SimpleNamespace(config=SimpleNamespace(minibatch_std=False, spectral_norm=False))
    said = advice_for_collapse(on, SimpleNamespace(r1_weight=0.0))
    assert "--minibatch-std" not in said and "--spectral-norm" not in said and "--r1-weight 1" in said
    assert advice_for_collapse(off, SimpleNamespace(r1_weight=1.0)) == (
        "try --minibatch-std, --loss hinge --spectral-norm, a lower --lr-g, or more epochs")


def test_errors_raised_from_python_name_keyword_arguments_and_from_the_cli_flags(tmp_path, capsys):
    """One error message, two spellings: keyword arguments from Python, flags on the command line."""
    from latentforge.cli.main import main

    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(lf.ConfigError) as e:
        lf.train("vae", x, device="cuda", progress=False)
    assert "use device='cpu' or device='auto'" in str(e.value) and "--" not in str(e.value)
    assert main(["train", "vae", "--data", str(tmp_path / "x.npy"), "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "use --device cpu or --device auto" in capsys.readouterr().err
    # a word after a flag is its value only where the option takes that value
    cases = {
        "only --epochs, --patience and --threads may change": "only epochs, patience and threads may change",
        "--data-b gives a second set; drop --data-b": "data_b gives a second set; drop data_b",
        "use --overwrite, or --resume": "use overwrite=True, or resume=True",
        "use --scaling minmax, or --loss mse --epochs 4": "use scaling='minmax', or loss='mse' epochs=4",
        "use --scaling nonsense": "use scaling nonsense",  # not one of the scaling's choices: not read as its value
        "give --cond-key energy": "give cond_key='energy'",
        "name both (CLI: --key flux)": "name both (CLI: --key flux)",  # already in both languages: kept
    }
    assert {text: str(lf.ConfigError(text)) for text in cases} == cases
