"""Kendall's tau per surrogate version (`tau_by_version`): grouping, order, counts and pooling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from surrogate.ranking import RankAgreement, kendall_tau, tau_by_version


def test_each_version_is_judged_on_its_own_pairs_and_all_are_pooled() -> None:
    # Version 2 ranks perfectly, version 1 exactly backwards, version 5 has too few pairs;
    # the pairs arrive interleaved and out of version order, as observations do.
    pairs = [
        (2, 0.1, 10.0),
        (1, 0.3, 1.0),
        (5, 9.0, 4.0),
        (2, 0.2, 20.0),
        (1, 0.2, 2.0),
        (2, 0.3, 30.0),
        (1, 0.1, 3.0),
        (2, 0.4, 40.0),
    ]

    agreement = tau_by_version(pairs)

    assert list(agreement.by_version) == [1, 2, 5]
    assert agreement.by_version[1] == RankAgreement(tau=pytest.approx(-1.0), n=3)
    assert agreement.by_version[2] == RankAgreement(tau=pytest.approx(1.0), n=4)
    assert agreement.by_version[5] == RankAgreement(tau=None, n=1)
    predicted = [p for _, p, _ in pairs]
    measured = [m for _, _, m in pairs]
    assert agreement.pooled.n == len(pairs)
    assert agreement.pooled.tau == pytest.approx(float(kendalltau(predicted, measured).statistic))


def test_versions_agree_with_kendall_tau_on_random_groups() -> None:
    rng = np.random.default_rng(3)
    versions = rng.integers(0, 6, 200)
    predicted = rng.normal(size=200)
    measured = predicted + rng.normal(scale=0.5, size=200)
    pairs = [
        (int(v), float(p), float(m)) for v, p, m in zip(versions, predicted, measured, strict=True)
    ]

    agreement = tau_by_version(pairs)

    assert sorted(agreement.by_version) == sorted(set(int(v) for v in versions))
    for version, ranked in agreement.by_version.items():
        chosen = versions == version
        assert ranked.n == int(chosen.sum())
        assert ranked.tau == kendall_tau(list(predicted[chosen]), list(measured[chosen]))


def test_no_pairs_give_no_versions_and_an_undefined_pooled_tau() -> None:
    agreement = tau_by_version([])

    assert agreement.by_version == {}
    assert agreement.pooled == RankAgreement(tau=None, n=0)
