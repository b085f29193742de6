"""Every catalogue model against every form a user's data comes in: each cell trains one tiny epoch and
round-trips (encode / reconstruct / sample as the model can), or is refused in one line that names the fix.
No traceback anywhere: anything but a latentforge error fails the cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import latentforge as lf

TINY = {
    "ae": {"hidden": (8,), "latent_dim": 2}, "linear-ae": {"latent_dim": 2}, "tied-ae": {"hidden": (8,), "latent_dim": 2},
    "conv-ae": {"channels": (4,), "latent_dim": 2}, "denoising-ae": {"hidden": (8,), "latent_dim": 2},
    "denoising-conv-ae": {"channels": (4,), "latent_dim": 2}, "sparse-ae": {"hidden": (8,), "latent_dim": 4},
    "vae": {"hidden": (8,), "latent_dim": 2}, "conv-vae": {"channels": (4,), "latent_dim": 2},
    "beta-tcvae": {"hidden": (8,), "latent_dim": 2}, "cvae": {"hidden": (8,), "latent_dim": 2},
    "spectrum-vae": {"latent_dim": 2, "channels": (2,), "hidden": (8, 8), "frame": "observed"},
    "gan": {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 2}, "dcgan": {"g_channels": 4, "d_channels": 4, "latent_dim": 2},
    "wgan-gp": {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 2, "n_critic": 1},
    "conv-wgan-gp": {"g_channels": 4, "d_channels": 4, "latent_dim": 2, "n_critic": 1},
    "cgan": {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 2},
    "cyclegan": {"g_hidden": (8,), "d_hidden": (8,)},  # domain B: the same data (data_b below)
}
FIXES = ("use ", "give ", "pass ", "--", "choose ", "install", "drop ", "name ", "train with", "ask for", "flatten",
         "reshape", "resize", "remove", "replace", "convert", "rescale", "mask ")
BATCH = 8


def _rng():
    return np.random.default_rng(0)


def forms(tmp):
    """name -> (data, extra train options); images are 12x10 grey levels unless named otherwise."""
    r = _rng()
    img = r.integers(0, 256, (20, 12, 10)).astype(np.uint8)
    labels = np.arange(20) % 3
    out = {
        "float32 vectors [0,1]": (r.random((20, 12)).astype(np.float32), {}),
        "float64 real vectors": (r.normal(size=(20, 12)), {}),
        "uint8 images": (img, {}),
        "list of lists": (r.random((20, 12)).tolist(), {}),
        "tensor": (torch.rand(20, 12), {}),
        "tensor with grad": (torch.rand(20, 12, requires_grad=True), {}),
        "TensorDataset": (torch.utils.data.TensorDataset(torch.rand(20, 12), torch.from_numpy(labels)), {}),
        "DataLoader": (torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(20, 12)), batch_size=BATCH), {}),
        "int labels": (r.random((20, 12)), {"labels": labels}),
        "string labels": (r.random((20, 12)), {"labels": np.array(["a", "b", "c"])[labels]}),
        "float labels": (r.random((20, 12)), {"labels": labels * 0.5}),
        "N = 1": (r.random((1, 12)), {}),
        "batch - 1": (r.random((BATCH - 1 + 4, 12)), {}),
        "batch + 1": (r.random((BATCH + 1 + 4, 12)), {}),
        "non-square images": (r.random((20, 9, 14)), {}),
    }
    for c in (1, 2, 3, 5):
        out[f"{c} channels first"] = (r.random((20, c, 12, 12)), {})
        out[f"{c} channels last"] = (r.random((20, 12, 12, c)), {})
    np.save(tmp / "x.npy", img)
    np.savez(tmp / "x.npz", x=img, y=labels)
    import h5py

    with h5py.File(tmp / "x.h5", "w") as f:
        f["x"], f["y"] = img, np.array([b"a", b"b", b"c"])[labels]
    (tmp / "x.csv").write_text("\n".join(["a,b,c,label"] + [f"{i},{i % 4},{-i},{i % 3}" for i in range(20)]))
    out.update({".npy": (str(tmp / "x.npy"), {}), ".npz": (str(tmp / "x.npz"), {}), ".h5": (str(tmp / "x.h5"), {}),
                ".csv": (str(tmp / "x.csv"), {})})
    from PIL import Image

    for i in range(6):
        (tmp / "imgs" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[i]).save(tmp / "imgs" / f"c{i % 2}" / f"{i}.png")
    out["image folder"] = (str(tmp / "imgs"), {})
    try:
        from astropy.io import fits

        fits.PrimaryHDU(r.random((20, 12, 10))).writeto(tmp / "x.fits")
        out["FITS cube"] = (str(tmp / "x.fits"), {})
    except ImportError:  # pragma: no cover - astropy is in the test extra
        pass
    return out


@pytest.fixture(scope="module")
def all_forms(tmp_path_factory):
    return forms(tmp_path_factory.mktemp("forms"))


def one_line_with_fix(e: Exception) -> bool:
    text = str(e)
    return "\n" not in text.strip() and any(f in text for f in FIXES)


def test_every_model_is_in_the_matrix():
    shower_only = {"shower-flow-vae", "calogan"}  # layered showers only: test_shower_flow.py, test_calogan.py
    assert set(TINY) == set(lf.MODELS.names()) - shower_only


@pytest.mark.parametrize("model", sorted(TINY))
def test_every_model_with_every_input_form(model, all_forms):
    trained, refused = [], []
    for name, (data, extra) in all_forms.items():
        opts = {**TINY[model], **extra}
        if lf.MODELS.get(model).objective_class.second_domain:
            opts["data_b"] = data
        try:
            run = lf.train(model, data, epochs=1, batch_size=BATCH, seed=0, progress=False, **opts)
        except lf.LatentforgeError as e:
            assert one_line_with_fix(e), f"{model} / {name}: refused without a fix: {e}"
            refused.append(name)
            continue
        ds = lf.as_dataset(data, labels=extra.get("labels"))  # the data as the run read it
        cond = run.conditioner.values_of(ds)[:2] if run.conditional else None
        if run.can("encoding"):
            z = run.encode(ds)
            assert z.shape == (len(ds), run.model.latent_dim) and np.isfinite(z).all(), (model, name)
            assert run.reconstruct(ds).shape == ds.x.shape
        if run.can("sampling"):
            assert run.sample(2, cond, seed=1, layout="model").shape == (2, *run.input_shape), (model, name)
            given = np.shape(data)[1:] if isinstance(data, np.ndarray) else None  # an array: its own layout
            assert given is None or run.sample(2, cond, seed=1).shape == (2, *given), (model, name)
        if run.can("translating"):
            assert run.translate(ds).shape == ds.x.shape, (model, name)
        trained.append(name)
    # the forms every model should take (it has a vector or an image network for them)
    assert trained, f"{model} trained on no input form; refused {refused}"
