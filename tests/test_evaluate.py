"""Metrics agree with torchmetrics / scikit-learn, undefined AUCs are loud, TTA is rotation-invariant."""
import math
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torchmetrics.classification import MulticlassAUROC, MulticlassAccuracy, BinaryAUROC
from deeplense_nb.augment import d4
from deeplense_nb.evaluate import lens_metrics, confusion, regression_metrics, predict_loader, evaluate


@pytest.fixture
def scores():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    logits = torch.randn(60, 3, generator=g) + 1.5 * torch.nn.functional.one_hot(y, 3)
    return logits, y


def test_multiclass_matches_torchmetrics_and_sklearn(scores):
    logits, y = scores
    m = lens_metrics(logits, y)
    p = logits.softmax(-1)
    assert m["auc_macro"] == pytest.approx(float(MulticlassAUROC(3, average="macro")(p, y)), abs=1e-6)
    per = MulticlassAUROC(3, average=None)(p, y)
    for k, c in enumerate(("axion", "cdm", "no_sub")): assert m[f"auc_{c}"] == pytest.approx(float(per[k]), abs=1e-6)
    assert m["accuracy"] == pytest.approx(float(MulticlassAccuracy(3, average="micro")(p, y)))
    onehot = np.eye(3)[y.numpy()]
    assert m["auc_micro"] == pytest.approx(roc_auc_score(onehot, p.numpy(), average="micro"))
    keep = y < 2                                                       # axion vs cdm on those two classes only
    pa = p[keep, 0] / (p[keep, 0] + p[keep, 1])
    assert m["auc_axion_vs_cdm"] == pytest.approx(roc_auc_score(y[keep] == 0, pa))


def test_binary_matches_torchmetrics():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(40) % 2; logits = torch.randn(40, 2, generator=g) + torch.nn.functional.one_hot(y, 2)
    m = lens_metrics(logits, y, ("no_sub", "sub"))
    assert m["auc"] == pytest.approx(float(BinaryAUROC()(logits.softmax(-1)[:, 1], y)), abs=1e-6)


def test_missing_class_gives_nan_with_warning():
    with pytest.warns(UserWarning, match="AUC cdm"):
        m = lens_metrics(torch.randn(4, 3), torch.tensor([0, 2, 0, 2]))
    assert math.isnan(m["auc_cdm"]) and not math.isnan(m["auc_axion"])


def test_confusion_rows_are_true_classes(scores):
    logits, y = scores
    cm = confusion(logits, y, 3)
    assert cm.sum() == 60 and (cm.sum(1) == 20).all()
    assert np.trace(cm) / 60 == pytest.approx(lens_metrics(logits, y)["accuracy"])


def test_regression_metrics():
    t = np.linspace(-24, -22, 11); r = regression_metrics(t + 0.1, t)
    assert r["mae_dex"] == pytest.approx(0.1) and r["rmse_dex"] == pytest.approx(0.1) and r["bias_dex"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="equal, non-empty"): regression_metrics([1.0], [1.0, 2.0])


def test_tta_is_invariant_and_exact_for_invariant_models():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 64, 3))
    x = torch.rand(6, 1, 8, 8); y = torch.arange(6) % 3
    dl = lambda x: torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    p, _ = predict_loader(net, dl(x), device="cpu", tta=True)
    q, _ = predict_loader(net, dl(d4(x, 6)), device="cpu", tta=True)
    torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-5)            # TTA output does not depend on orientation
    pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(1, 3))  # invariant model
    torch.testing.assert_close(predict_loader(pool, dl(x), device="cpu", tta=True)[0], predict_loader(pool, dl(x), device="cpu")[0])


def test_evaluate_writes_figures_and_predictions(tmp_path):
    ds = torch.utils.data.TensorDataset(torch.rand(9, 1, 8, 8), torch.arange(9) % 3)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    m = evaluate(net, ds, device="cpu", out_dir=tmp_path, tta=True)
    assert (tmp_path / "figures" / "test_roc.png").stat().st_size > 1000 and (tmp_path / "predictions_test.csv").exists()
    assert m["test_n"] == 9 and m["test_n_cdm"] == 3
