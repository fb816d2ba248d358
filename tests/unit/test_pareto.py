"""`surrogate.pareto`: Pareto sets with directions, layers, normalisation and hypervolumes
against cases computed by hand."""

from __future__ import annotations

import pytest
import torch

from surrogate.pareto import (
    Normalisation,
    front_depth,
    hypervolume,
    hypervolume_sweep,
    normalised_hypervolume,
    pareto_indices,
    reference_point,
    to_maximization,
)

MAX_MAX = ("maximize", "maximize")
MAX_MIN = ("maximize", "minimize")


def test_pareto_set_follows_the_directions() -> None:
    Y = torch.tensor([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    # Both maximised: the staircase (the duplicate of row 1 is dropped), not (1, 1).
    assert pareto_indices(Y, MAX_MAX) == [0, 1, 2]
    # Second minimised: (3, 1) is best in both.
    assert pareto_indices(Y, MAX_MIN) == [2]
    # Both minimised: (1, 1) dominates everything.
    assert pareto_indices(Y, ("minimize", "minimize")) == [3]


def test_accuracy_against_latency_keeps_the_trade_off() -> None:
    # (accuracy, latency): row 2 is slower and less accurate than row 0; row 3 is dominated
    # by row 1 (same latency, less accurate).
    Y = torch.tensor([[90.0, 8.0], [85.0, 4.0], [88.0, 9.0], [80.0, 4.0], [70.0, 2.0]])
    assert pareto_indices(Y, MAX_MIN) == [0, 1, 4]


def test_nan_rows_are_never_on_the_front() -> None:
    Y = torch.tensor([[1.0, float("nan")], [0.5, 0.5]])
    assert pareto_indices(Y, MAX_MAX) == [1]


def test_front_depth_peels_layers() -> None:
    Y = torch.tensor([[3.0, 3.0], [2.0, 2.0], [1.0, 1.0], [3.0, 1.0], [float("nan"), 0.0]])
    assert front_depth(Y, MAX_MAX).tolist() == [0, 1, 2, 1, 3]


def test_hypervolume_of_a_staircase_by_hand() -> None:
    # Points (1, 3), (2, 2), (3, 1) above (0, 0): 3 + 2 + 1 = 6 unit boxes.
    Y = torch.tensor([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [0.5, 0.5]])
    ref = torch.zeros(2)
    assert hypervolume(Y, ref) == pytest.approx(6.0)
    assert hypervolume_sweep(Y, ref) == pytest.approx(6.0)
    # A point below the reference in one objective adds nothing.
    assert hypervolume(torch.tensor([[5.0, -1.0]]), ref) == 0.0
    assert hypervolume(torch.empty(0, 2), ref) == 0.0


def test_hypervolume_of_three_objectives_by_hand() -> None:
    # Two boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] overlap in the unit cube: 2 + 2 - 1.
    Y = torch.tensor([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]])
    ref = torch.zeros(3)
    assert hypervolume(Y, ref) == pytest.approx(3.0)
    assert hypervolume_sweep(Y, ref) == pytest.approx(3.0)
    # Adding (1, 1, 3) adds the slab [0,1]^2 x [1,3]: 2 more.
    Y3 = torch.cat([Y, torch.tensor([[1.0, 1.0, 3.0]])])
    assert hypervolume(Y3, ref) == pytest.approx(5.0)


def test_box_decomposition_and_sweep_agree_on_random_fronts() -> None:
    generator = torch.Generator().manual_seed(0)
    for m in (2, 3):
        Y = torch.rand(40, m, generator=generator, dtype=torch.float64)
        ref = torch.full((m,), -0.1, dtype=torch.float64)
        assert hypervolume(Y, ref) == pytest.approx(hypervolume_sweep(Y, ref), rel=1e-9)


def test_normalisation_puts_the_best_bound_at_one_and_minimisation_flipped() -> None:
    Y = torch.tensor([[90.0, 8.0], [70.0, 2.0], [80.0, 5.0]])
    norm = Normalisation.from_values(Y, MAX_MIN)
    assert norm.lower == (70.0, 2.0) and norm.upper == (90.0, 8.0)
    assert norm.apply(Y).tolist() == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    assert to_maximization(Y, MAX_MIN)[:, 1].tolist() == [-8.0, -2.0, -5.0]


def test_normalised_hypervolume_uses_the_reference_rule() -> None:
    Y = torch.tensor([[90.0, 8.0], [70.0, 2.0], [80.0, 5.0]])
    norm = Normalisation.from_values(Y, MAX_MIN)
    assert reference_point(2).tolist() == [-0.1, -0.1]
    # Normalised points (1, 0), (0, 1), (0.5, 0.5), i.e. (1.1, 0.1), (0.1, 1.1), (0.6, 0.6)
    # above the reference: in slices of the first objective, 0.1 x 1.1, 0.5 x 0.6, 0.5 x 0.1.
    expected = 0.1 * 1.1 + 0.5 * 0.6 + 0.5 * 0.1
    assert normalised_hypervolume(Y, norm) == pytest.approx(expected)
    # Margin 0: the extreme points add nothing, only the middle one's square.
    assert normalised_hypervolume(Y, norm, margin=0.0) == pytest.approx(0.25)


def test_bad_directions_and_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown directions"):
        pareto_indices(torch.zeros(2, 2), ("maximize", "up"))
    with pytest.raises(ValueError, match="2 or 3 objectives"):
        pareto_indices(torch.zeros(2, 1), ("maximize",))
    with pytest.raises(ValueError, match="upper bound"):
        Normalisation(MAX_MAX, (0.0, 1.0), (1.0, 1.0))
