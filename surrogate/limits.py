"""Maxima of the options a user may set, checked by the option dataclasses themselves.

A search's options arrive from users over the API, so every count that sets how much work a
round does (epochs, steps, pool sizes, samples, iterations) has a maximum: without one, a single
submission such as ``fit: {epochs: 5000000}`` would keep the controller busy for hours. The
maxima sit beside each option class (``FIT_MAXIMA`` next to `FitOptions`, and so on) and are
enforced in its ``__post_init__``, so the library refuses them as the service does; the
service's spec validation builds the options and turns the `ValueError` into a 422 naming the
option and its maximum. They are generous for real use and listed in docs/limits.md.
"""

from __future__ import annotations

from collections.abc import Mapping

SEED_MAX = 2**63 - 1
"""Largest seed of any option class (seeds go to numpy and torch as 64-bit integers)."""


def check_maxima(owner: str, options: object, maxima: Mapping[str, float]) -> None:
    """Refuse any numeric field of `options` above its maximum in `maxima`.

    Args:
        owner: Where the options sit in a spec, as users write it (``fit``, ``fit.gcn``;
            empty for top-level options), so that the message names ``fit.epochs``.
        options: A dataclass instance.
        maxima: Field name to its largest accepted value; ``None`` values are not checked.

    Raises:
        ValueError: A field exceeds its maximum (the message names it and the maximum).
    """
    for name, maximum in maxima.items():
        value = getattr(options, name)
        label = f"{owner}.{name}" if owner else name
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value > maximum:
            raise ValueError(
                f"{label} is {value}, above its maximum of {maximum:,}; "
                "the limits are listed in docs/limits.md"
            )
