"""Robustness evaluation: the grid means what it says, the command writes its table and figure, the card carries it."""
import json
import shutil

import numpy as np
import pytest
import torch

from deeplense_nb.robustness import add_to_card, noise_overrides, robustness, robustness_grid
from deeplense_nb.simulate import get_config, simulate_batch


@pytest.mark.parametrize("config", ["model_ii", "model_iii"])
def test_noise_factor_scales_the_measured_noise(config):
    def corner_std(s):
        x, _ = simulate_batch(get_config(config, **noise_overrides(config, s)), ["no_sub"] * 32, seed=2)
        return float(x[:, 0, :12, :12].std())  # background only, far from the arcs
    base = corner_std(1)
    assert np.allclose([corner_std(s) / base for s in (0.5, 2, 4)], [0.5, 2.0, 4.0], rtol=0.03)
    x, _ = simulate_batch(get_config(config, **noise_overrides(config, 0)), ["no_sub"] * 2, seed=2)
    assert float(x[:, 0, :12, :12].std()) < 0.05 * base  # noise x0: noiseless (what is left is the faint edge of the light)


def test_grid_covers_the_issue_points():
    labels = [p["label"] for p in robustness_grid("model_ii")]
    assert labels == ["noise x0", "noise x0.5", "nominal", "noise x2", "noise x4", "PSF x0.75", "PSF x1.5",
                      "source -1 mag", "source +1 mag", "upstream quirk"]
    mi = {p["label"]: p["overrides"] for p in robustness_grid("model_i")}
    assert mi["exposure x0.3"] == dict(exposure_scale_range=(0.3, 0.3)) and "upstream quirk" not in mi
    with pytest.raises(ValueError, match="exposure"): noise_overrides("model_i", 2)


def test_robustness_command_and_card(tmp_path):
    from deeplense_nb.checkpoint import weights_dir
    from deeplense_nb.cli import main
    main(["robustness", "model_ii_classifier", "--n-per-class", "12", "--out", str(tmp_path/"r"), "-q"])
    import pandas as pd
    df = pd.read_csv(tmp_path/"r"/"robustness.csv")
    assert len(df) == 10 and df.auc_macro.between(0, 1).all() and df.n.eq(36).all() and df.seed.is_unique
    assert ((df.auc_macro_lo <= df.auc_macro) & (df.auc_macro <= df.auc_macro_hi)).all()  # every point with its 95 % interval
    assert (tmp_path/"r"/"robustness.png").stat().st_size > 10_000
    for f in ("model_ii_classifier.json", "model_ii_classifier.md"): shutil.copy(weights_dir()/f, tmp_path)
    md = add_to_card("model_ii_classifier", df, figure="robustness.png", root=tmp_path)
    add_to_card("model_ii_classifier", df, root=tmp_path)  # again: replaces the section
    assert md.read_text().count("## Robustness") == 1 and "| nominal |" in md.read_text()
    assert len(json.loads((tmp_path/"model_ii_classifier.json").read_text())["robustness"]) == 10


def test_robustness_command_without_intervals_and_a_bad_ci(tmp_path):
    from deeplense_nb.cli import main
    main(["robustness", "model_ii_axion_mass", "--n-per-class", "6", "--ci", "0", "--out", str(tmp_path/"r"), "-q"])
    import pandas as pd
    df = pd.read_csv(tmp_path/"r"/"robustness.csv")
    assert "mae_dex" in df and not any(c.endswith(("_lo", "_hi")) for c in df)
    with pytest.raises(SystemExit): main(["robustness", "model_ii_axion_mass", "--ci", "1", "--out", str(tmp_path/"r"), "-q"])


def test_robustness_against_another_model(tmp_path, capsys):
    "--against scores the reference on the very images of the table: the model's scores equal the table's, the reference's diffs are 0."
    from deeplense_nb.cli import main
    import pandas as pd
    main(["robustness", "model_ii_classifier", "--against", "model_ii_vit_classifier", "--n-per-class", "8", "--ci", "20", "--out", str(tmp_path/"r"), "-q"])
    t, c = pd.read_csv(tmp_path/"r"/"robustness.csv"), pd.read_csv(tmp_path/"r"/"compare.csv")
    assert c.model.tolist() == ["model_ii_vit_classifier", "model_ii_classifier"] * len(t) and c.metric.eq("auc_macro").all()
    ref, new = c.iloc[0::2].reset_index(drop=True), c.iloc[1::2].reset_index(drop=True)
    assert new.label.tolist() == t.label.tolist() and np.allclose(new.score, t.auc_macro)  # the same seeds, the same images
    assert ref["diff"].eq(0).all() and np.allclose(new["diff"], new.score - ref.score) and (new.diff_lo <= new["diff"]).all() and (new["diff"] <= new.diff_hi).all()
    assert new.significant.eq((new.diff_lo > 0) | (new.diff_hi < 0)).all()
    assert "model_ii_classifier minus model_ii_vit_classifier on the same images" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="differ from"):  # another simulator config: refused with the reason, before any work
        main(["robustness", "model_ii_classifier", "--against", "model_i_classifier", "--out", str(tmp_path/"x"), "-q"])
    assert not (tmp_path/"x").exists()


def test_robustness_refuses_a_training_seed():
    from deeplense_nb.pretrained import load
    net, card = load("model_ii_classifier")
    s = card["data_seed"] if card.get("data_seed") is not None else card["config"]["seed"]
    with pytest.raises(ValueError, match="training seed"): robustness((net, card), n_per_class=2, seed=s, progress=False)


def test_shipped_model_ii_classifier_survives_noise_and_the_upstream_quirk():
    "Issue 14's bar for the shipped Model-II classifier: macro AUC >= 0.9 on ~300 fresh images at noise x3, and on ~300 noiseless upstream-quirk ones."
    pts = [dict(factor="noise", value=3.0, label="noise x3", overrides=noise_overrides("model_ii", 3)),
           dict(factor="upstream", value=1.0, label="upstream quirk", overrides=dict(noise=False, upstream_double=True))]
    df = robustness("model_ii_classifier", n_per_class=100, seed=888_000, points=pts, progress=False).set_index("label")
    assert df.n.eq(300).all()
    assert df.loc["noise x3", "auc_macro"] >= 0.9, df.auc_macro.to_dict()
    assert df.loc["upstream quirk", "auc_macro"] >= 0.9, df.auc_macro.to_dict()
