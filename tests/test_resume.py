"""Exact resume: N steps straight == stop after k steps (or crash after a checkpoint) + resume, bit for bit on CPU."""
from pathlib import Path
import pytest
import torch
from deeplense_nb import train
from deeplense_nb.train import TrainConfig, fit, load_checkpoint


def toy_data(n=96, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.rand(n, 1, size, size, generator=g) + y[:, None, None, None] * 0.3
    ds = torch.utils.data.TensorDataset(x, y)
    return dict(train=torch.utils.data.Subset(ds, range(60)), val=torch.utils.data.Subset(ds, range(60, 78)),
                test=torch.utils.data.Subset(ds, range(78, 96)))


KW = dict(model="test_resnet", epochs=3, batch_size=12, lr=3e-3, warmup_epochs=1, drop_rate=0.3, ema_decay=0.8,
          augment="d4+noise0.02+shift2", label_smoothing=0.1, clip_grad=0.5, bn_recal=2, progress=False)  # 5 steps per epoch; precise BN too


def state(d):
    t, meta = load_checkpoint(Path(d) / "checkpoints" / "last.safetensors")
    return {k: v for k, v in t.items() if not k.startswith("rng.")}, meta


def assert_same(a, b):
    (ta, ma), (tb, mb) = state(a), state(b)
    assert ta.keys() == tb.keys() and any(k.startswith("ema.") for k in ta) and any(k.startswith("optim.") for k in ta)
    diff = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not diff, f"weights differ after resume: {diff[:5]}"
    assert ma["step"] == mb["step"] == 15
    assert [h["val_loss"] for h in ma["history"]] == [h["val_loss"] for h in mb["history"]]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    d = tmp_path_factory.mktemp("straight")
    fit(TrainConfig(out_dir=str(d), **KW), toy_data())
    return d


@pytest.mark.parametrize("k", [3, 5, 7])  # inside epoch 1, at an epoch end, inside epoch 2
def test_stop_and_resume(straight, tmp_path, k):
    fit(TrainConfig(out_dir=str(tmp_path), max_steps=k, **KW), toy_data())
    assert state(tmp_path)[1]["step"] == k
    fit(TrainConfig(out_dir=str(tmp_path), **KW), toy_data())
    assert_same(straight, tmp_path)


def test_crash_and_resume(straight, tmp_path, monkeypatch):
    step, calls = train._train_step, []
    def dying_step(r, *a, **kw):
        calls.append(1)
        if len(calls) == 9: raise KeyboardInterrupt("killed")  # after 8 completed steps
        return step(r, *a, **kw)
    monkeypatch.setattr(train, "_train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainConfig(out_dir=str(tmp_path), save_every=2, **KW), toy_data())
    assert state(tmp_path)[1]["step"] == 8
    monkeypatch.setattr(train, "_train_step", step)
    fit(TrainConfig(out_dir=str(tmp_path), **KW), toy_data())
    assert_same(straight, tmp_path)


def test_resume_refuses_other_settings(tmp_path):
    fit(TrainConfig(out_dir=str(tmp_path), max_steps=2, **KW), toy_data())
    with pytest.raises(ValueError, match="other settings"):
        fit(TrainConfig(out_dir=str(tmp_path), **{**KW, "lr": 1e-2}), toy_data())
    fit(TrainConfig(out_dir=str(tmp_path), resume=False, max_steps=1, **{**KW, "lr": 1e-2}), toy_data())  # fresh start is fine
