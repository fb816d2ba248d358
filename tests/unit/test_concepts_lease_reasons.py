"""The one lease-refusal table (issue #14): every store refusal has its protocol reason."""

from __future__ import annotations

import pytest

from protocol import ErrorReason
from service.errors import LEASE_REASONS, lease_reason
from service.exceptions import LeaseRejection


def test_every_rejection_has_a_reason() -> None:
    assert set(LEASE_REASONS) == set(LeaseRejection)


@pytest.mark.parametrize(
    ("rejection", "held_by_another", "expected"),
    [
        (LeaseRejection.EXPIRED, False, ErrorReason.LEASE_EXPIRED),
        (LeaseRejection.EXPIRED, True, ErrorReason.LEASE_EXPIRED),
        (LeaseRejection.ALREADY_REPORTED, False, ErrorReason.ALREADY_REPORTED),
        (LeaseRejection.STALE_ATTEMPT, True, ErrorReason.STALE_ATTEMPT),
        (LeaseRejection.CANCELLED, True, ErrorReason.STALE_ATTEMPT),
        (LeaseRejection.NOT_HELD, False, ErrorReason.STALE_ATTEMPT),
        (LeaseRejection.NOT_HELD, True, ErrorReason.LEASE_NOT_HELD),
    ],
)
def test_lease_reason(
    rejection: LeaseRejection, held_by_another: bool, expected: ErrorReason
) -> None:
    assert lease_reason(rejection, held_by_another=held_by_another) is expected
