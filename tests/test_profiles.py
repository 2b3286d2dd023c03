"""Tests of deepshadows_lib.profiles."""

import pytest

from deepshadows_lib import profiles


def test_paper_profile_has_the_papers_sizes():
    p = profiles.get_profile("paper")
    assert p.n_per_class == 20000
    assert p.epochs == 100 and p.batch_size == 64 and p.learning_rate == 0.1
    assert p.n_bootstrap == 1000
    assert p.seeds == (1, 3, 18, 33, 42, 96)
    assert (p.finetune_epochs, p.finetune_batch_size, p.finetune_learning_rate) == (30, 16, 0.005)
    assert p.n_finetune == 320 and 2 * p.n_hsc_per_class - p.n_finetune == 960
    # the paper flips 300, 1,500, 3,000 and 10,000 of 30,000 training labels
    assert [round(f * 30000) for f in p.noise_fractions] == [300, 1500, 3000, 10000]
    assert [round(f * 30000) for f in p.biased_noise_fractions] == [300, 1500, 3000]


def test_profiles_grow():
    s, d, p = (profiles.get_profile(n) for n in ("smoke", "default", "paper"))
    # the default profile has the paper's objects and a smaller budget of steps
    assert s.n_per_class < d.n_per_class <= p.n_per_class
    assert d.epochs_for(30000) * 469 < p.epochs_for(30000) * 469
    assert s.epochs < d.epochs < p.epochs
    assert s.n_finetune < 2 * s.n_hsc_per_class


def test_biased_noise_in_the_paper_and_smoke_profiles_only():
    s, d, p = (profiles.get_profile(n) for n in ("smoke", "default", "paper"))
    # the default run trains only what the paper's tables and figures report; CI still
    # runs the one-direction study through the smoke profile
    assert d.biased_noise_fractions == ()
    assert s.biased_noise_fractions and p.biased_noise_fractions
    assert d.noise_fractions and set(d.noise_fractions) <= set(p.noise_fractions)


def test_deviations_from_the_paper_are_off_in_the_paper_profile():
    s, d, p = (profiles.get_profile(n) for n in ("smoke", "default", "paper"))
    assert p.ema_momentum is None and not p.bn_reestimate and p.train_steps is None
    assert d.bn_reestimate and 0.9 <= d.ema_momentum < 1.0
    assert s.ema_momentum == d.ema_momentum  # CI's smoke run exercises the averaging


def test_parameters_are_plain():
    params = profiles.get_profile("smoke").as_parameters()
    assert params["name"] == "smoke" and isinstance(params["seeds"], list)


def test_unknown_profile():
    with pytest.raises(ValueError, match="smoke, default, paper"):
        profiles.get_profile("huge")


def test_plus_fields():
    s, d, p = (profiles.get_profile(n) for n in ("smoke", "default", "paper"))
    assert d.n_ensemble == 5 and p.n_ensemble == 5 and s.n_ensemble < d.n_ensemble
    assert d.plus_head in ("flatten", "gap")
    assert p.n_plus_seeds == 3 and s.n_plus_seeds >= 2  # smoke exercises the spread code


def test_every_profile_calibrates_plus_in_a_known_way():
    from deepshadows_lib.plus import CALIBRATIONS
    for name in profiles.PROFILES:
        assert profiles.get_profile(name).plus_calibration in CALIBRATIONS


def test_every_profile_runs_the_studies_trainings_side_by_side():
    # issue 18: concurrent in local processes by default, the paper profile included
    for name in profiles.PROFILES:
        assert profiles.get_profile(name).workers >= 2, name
