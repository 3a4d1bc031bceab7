"""Claims (issue 27): a sentence that compares measured numbers is written from them, recorded in results.json, and
a claim whose recorded direction or sentence disagrees with its numbers is found."""

from __future__ import annotations

import json

import pytest

from gm_lib import claims
from gm_lib.profiles import get_profile
from gm_lib.results import Recorder, load_results

# The default report's kNN accuracies (c482793) and the WAE paper's expectation (Fig. 1: the VAE's per-sample KL
# makes the posteriors of different images overlap; the WAE's do not need to).
KNN = {"the VAEs": {"VAE (01)": 0.939, "VAE (04)": 0.922},
       "the WAEs": {"WAE-MMD (IMQ)": 0.888, "WAE-MMD (RBF)": 0.875, "WAE-GAN": 0.852}}
READS = {"VAE (01)": "knn/vae_bmnist", "VAE (04)": "knn/wae_mnist_vae", "WAE-MMD (IMQ)": "knn/wae_mnist_wae_mmd_imq",
         "WAE-MMD (RBF)": "knn/wae_mnist_wae_mmd_rbf", "WAE-GAN": "knn/wae_mnist_wae_gan"}
WAE_FIG1 = claims.Literature("Tolstikhin et al. 2018 (Fig. 1)", "the WAEs", protocol="an argument, not a measurement")
WAE_TABLE1 = claims.Literature("Tolstikhin et al. 2018, Table 1", ("WAE-GAN", "WAE-MMD (IMQ)", "VAE"),
                               {"WAE-GAN": 42, "WAE-MMD (IMQ)": 55, "VAE": 63}, "CelebA 64×64")


def _recorder(tmp_path, profile="default"):
    rec = Recorder(tmp_path, "tsne", get_profile(profile), seed=0)
    for group in KNN.values():
        for label, value in group.items():
            rec.metric(READS[label], value, model=label)
    return rec


def _knn_claim(rec):
    return claims.compare(rec, "knn", "kNN accuracy (k = 5)", KNN, lower_is_better=False,
                          better="keep classes further apart", reads=READS, literature=WAE_FIG1)


def test_a_comparison_says_what_the_numbers_say_and_where_the_paper_differs(tmp_path):
    rec = _recorder(tmp_path)
    text = str(_knn_claim(rec).data)
    assert text.startswith("Here the VAEs keep classes further apart than the WAEs: kNN accuracy (k = 5) "
                           "VAE (01) 0.939, VAE (04) 0.922 vs WAE-MMD (IMQ) 0.888, WAE-MMD (RBF) 0.875, WAE-GAN 0.852.")
    assert "**Unlike Tolstikhin et al. 2018 (Fig. 1)**, which has the WAEs keep classes further apart" in text
    assert text.endswith("(one seed: not tested)")
    (record,) = rec.claims
    assert record["measured"] == "the VAEs" and record["agrees"] is False


def test_overlapping_groups_are_neither_and_an_order_names_the_papers_ranking(tmp_path):
    rec = _recorder(tmp_path)
    mixed = {"the VAEs": {"VAE (01)": 0.9, "VAE (04)": 0.8}, "the WAEs": {"WAE-GAN": 0.85}}
    text = str(claims.compare(rec, "mixed", "kNN accuracy", mixed, lower_is_better=False, better="keep classes "
                              "further apart").data)
    assert text.startswith("Neither the VAEs nor the WAEs keep classes further apart throughout")
    fid = {"VAE": 128.82, "WAE-MMD (IMQ)": 55.03, "WAE-GAN": 61.31}
    text = str(claims.order(rec, "fid", "FID", fid, lower_is_better=True, literature=WAE_TABLE1).data)
    assert text.startswith("FID (lower is better), here: WAE-MMD (IMQ) 55.0 < WAE-GAN 61.3 < VAE 128.8.")
    assert "**Unlike Tolstikhin et al. 2018, Table 1**, which ranks them WAE-GAN < WAE-MMD (IMQ) < VAE" in text
    agreeing = claims.order(rec, "fid2", "FID", {"WAE-GAN": 40.0, "VAE": 60.0}, lower_is_better=True,
                            literature=WAE_TABLE1)
    assert "As in Tolstikhin et al. 2018, Table 1" in str(agreeing.data)
    assert [c["name"] for c in claims.differing({"claims": rec.claims})] == ["fid"]


def test_a_bound_places_the_number_against_the_published_range(tmp_path):
    rec = _recorder(tmp_path)
    lit = claims.Literature("Burda et al. 2016", "inside", {"static VAE": 88.71, "pythae": 89.78})
    text = str(claims.bound(rec, "nll", "Test NLL (nats)", 88.50, literature=lit).data)
    assert text.startswith("Test NLL (nats): ours 88.50, below the range 88.71 … 89.78.")
    assert rec.claims[-1]["agrees"] is False
    with pytest.raises(ValueError, match="interval or literature values"):
        claims.bound(rec, "x", "x", 1.0)


def test_at_a_preview_profile_a_claim_says_not_evaluated(tmp_path):
    rec = _recorder(tmp_path, "smoke")
    text = str(_knn_claim(rec).data)
    assert text.startswith("kNN accuracy (k = 5): preview numbers: not evaluated (profile smoke).")
    assert rec.claims[0]["measured"] is None and rec.claims[0]["agrees"] is None
    assert "Unlike" not in text and claims.differing({"claims": rec.claims}) == []


def _saved(tmp_path):
    rec = _recorder(tmp_path)
    _knn_claim(rec)
    claims.order(rec, "fid", "FID", {"VAE": 128.82, "WAE-GAN": 61.31}, lower_is_better=True, literature=WAE_TABLE1)
    path = rec.save()
    assert claims.audit(load_results(path)) == []
    return path, json.loads(path.read_text())


def _perturbed(path, data) -> list[str]:
    path.write_text(json.dumps(data))
    return claims.audit(load_results(path))


def test_a_claim_whose_recorded_direction_and_sentence_disagree_is_found(tmp_path):
    path, data = _saved(tmp_path)
    data["claims"][0]["measured"] = "the WAEs"  # the direction flipped, the sentence left as it was
    assert any("recorded direction 'the WAEs', its numbers give 'the VAEs'" in p for p in _perturbed(path, data))


def test_a_sentence_edited_by_hand_is_found(tmp_path):
    path, data = _saved(tmp_path)
    data["claims"][0]["text"] = data["claims"][0]["text"].replace("the VAEs keep", "the WAEs keep")
    assert any("its sentence does not say what its numbers give" in p for p in _perturbed(path, data))


def test_numbers_swapped_under_a_sentence_are_found(tmp_path):
    path, data = _saved(tmp_path)
    groups = data["claims"][0]["groups"]
    groups["the VAEs"]["VAE (01)"], groups["the WAEs"]["WAE-GAN"] = 0.852, 0.939
    problems = _perturbed(path, data)
    assert any("its numbers give 'neither'" in p for p in problems)
    assert any("VAE (01) = 0.852 but metric knn/vae_bmnist = 0.939" in p for p in problems)


def test_a_metric_that_changed_under_its_claim_is_found(tmp_path):
    path, data = _saved(tmp_path)
    data["metrics"]["knn/wae_mnist_wae_gan"] = 0.95
    assert any("WAE-GAN = 0.852 but metric knn/wae_mnist_wae_gan = 0.95" in p for p in _perturbed(path, data))


def test_a_flipped_literature_verdict_is_found(tmp_path):
    path, data = _saved(tmp_path)
    assert data["claims"][1]["agrees"] is True  # WAE-GAN < VAE, as in the paper
    data["claims"][1]["agrees"] = False
    assert any("recorded agreement False" in p for p in _perturbed(path, data))


def test_seed_test_calls_a_gap_inside_the_spread_no_finding():
    def seed(vae, wae):
        return {"kind": "compare", "lower_is_better": False, "preview": False,
                "groups": {"the VAEs": {"VAE": vae}, "the WAEs": {"WAE": wae}}}

    assert claims.seed_test([seed(0.9, 0.8)]) == claims.ONE_SEED
    assert claims.seed_test([seed(0.90, 0.80), seed(0.91, 0.81), seed(0.92, 0.79)]).startswith("each deciding gap")
    assert "within the seed spread" in claims.seed_test([seed(0.90, 0.80), seed(0.70, 0.95), seed(0.95, 0.70)])


def test_run_times_come_from_the_manifest(tmp_path):
    from gm_lib.paths import repo_root
    from gm_lib.report.run import load_manifest

    spec = next(r for r in load_manifest(repo_root() / "reports" / "manifest.yaml").runs if r.name == "vae_bmnist")
    text = str(claims.run_time("vae_bmnist").data)
    assert f"default {spec.minutes['default']:g} min" in text and f"smoke {spec.minutes['smoke']:g} min" in text
    assert "not measured" in str(claims.run_time("wae_svhn").data)
