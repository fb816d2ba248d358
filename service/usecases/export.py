"""Export of a search's best architecture: its genotype as JSON, or a PyTorch module built from it.

`export_best` is the use case (the router only turns its `ExportFile` into a download);
`export_architecture` exports any architecture of the search the same way (a point of its
Pareto front, `service.usecases.pareto`).

The module is the architecture's own network, built by the workers' supernet code for the space
(`workers.supernets.build_supernet` over the one architecture), freshly initialised: the
controller holds results, not the weights a worker trained, and BONAS's final step is to train
the chosen architecture from scratch anyway. ``torchscript`` gives a scripted module that
``torch.jit.load`` runs without bonas installed; ``state_dict`` gives the weights to load into
the same class (``workers.supernets``) when bonas is installed.

The network's size follows the search: the dataset's classes and channels for training
evaluators, NAS-Bench-201's network (16 channels, 5 cells per stage, 10 classes of RGB images)
for table searches; the query may override each, within `MAX_SIZE`. Whatever the sizes, a
module of more than `MAX_EXPORT_PARAMETERS` parameters is refused (422) before it is built: the
network is first laid out on PyTorch's ``meta`` device, which costs no memory, and counted.
"""

from __future__ import annotations

import enum
import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from protocol import ErrorReason
from service.auth import Principal
from service.errors import NOT_FOUND, ApiError
from service.schemas import GenotypeOut
from service.search_spec import SearchSpec, TableEvaluator, batch_fidelity, build_space
from service.store import ArchitectureRepository, ArchitectureView
from service.usecases.architectures import best_of
from service.usecases.summary import spec_of, visible_search

logger = logging.getLogger(__name__)

DATASET_SHAPES = {"digits": (10, 1), "cifar10": (10, 3), "cifar100": (100, 3)}
"""(classes, input channels) of the datasets whose shape is known without reading them."""

TABLE_NETWORK = {"channels": 16, "cells_per_stage": 5, "num_classes": 10, "in_channels": 3}
"""The network a benchmark table's numbers were measured on (NAS-Bench-201's CIFAR-10 net)."""

MAX_SIZE = {"num_classes": 10_000, "in_channels": 64, "channels": 128, "cells_per_stage": 16}
"""Largest value of each size the export's query accepts."""
MAX_EXPORT_PARAMETERS = 4_000_000
"""Largest exported module, in parameters and buffers (16 MB of float32: DARTS's 3.3M-parameter
CIFAR-10 network fits, NAS-Bench-201's table network has 0.35M)."""


class ExportFormat(enum.StrEnum):
    """What the export returns."""

    JSON = "json"
    TORCHSCRIPT = "torchscript"
    STATE_DICT = "state_dict"


@dataclass(frozen=True)
class NetworkSize:
    """Overrides of the exported network's size (None: follow the search)."""

    num_classes: int | None = None
    in_channels: int | None = None
    channels: int | None = None
    cells_per_stage: int | None = None


@dataclass(frozen=True)
class ExportFile:
    """An export ready to send."""

    content: bytes
    media_type: str
    filename: str


def export_best(
    session: Session, principal: Principal, search_id: int, fmt: ExportFormat, size: NetworkSize
) -> ExportFile:
    """The best feasible architecture of a search as a file: its genotype (``json``) or its
    freshly initialised network (``torchscript``, ``state_dict``).

    Raises:
        ApiError: 404 when the search is not visible or nothing has been measured yet; 422 or
            501 as `export_module` says.
    """
    spec, view = best_of(session, principal, search_id)
    stem = f"search-{search_id}-best"
    if fmt is ExportFormat.JSON:
        body = GenotypeOut.model_validate(genotype(spec, search_id, view))
        return ExportFile(
            body.model_dump_json(indent=2).encode(), "application/json", f"{stem}.json"
        )
    return export_module(spec, view, fmt, size, stem)


def export_architecture(
    session: Session,
    principal: Principal,
    search_id: int,
    architecture_id: int,
    fmt: ExportFormat,
    size: NetworkSize,
) -> ExportFile:
    """Any architecture of a search (a point of its Pareto front, say) as `export_best` would
    export the best.

    Raises:
        ApiError: 404 when the search is not visible or the architecture is not in it; 422 or
            501 as `export_module` says.
    """
    spec = spec_of(visible_search(session, principal, search_id))
    try:
        views = ArchitectureRepository(session).views([architecture_id])
    except LookupError:  # the store's NotFoundError
        views = ()
    if not views or views[0].architecture.search_id != search_id:
        raise ApiError(
            404, NOT_FOUND, f"architecture {architecture_id} is not in search {search_id}"
        )
    stem = f"search-{search_id}-architecture-{architecture_id}"
    if fmt is ExportFormat.JSON:
        body = GenotypeOut.model_validate(genotype(spec, search_id, views[0]))
        return ExportFile(
            body.model_dump_json(indent=2).encode(), "application/json", f"{stem}.json"
        )
    return export_module(spec, views[0], fmt, size, stem)


def genotype(spec: SearchSpec, search_id: int, view: ArchitectureView) -> dict[str, Any]:
    """The portable description of an architecture and its result."""
    fidelity = batch_fidelity(spec)
    results = [e for e in view.evaluations if e.fidelity == fidelity]
    latest = results[-1] if results else None
    return {
        "search_id": search_id,
        "space": build_space(spec).describe(),
        "key": view.architecture.key,
        "arch": view.architecture.arch,
        "objective": None if latest is None else latest.objective,
        "objective_metric": spec.objective.metric,
        "fidelity": fidelity,
        "metrics": {} if latest is None else dict(latest.metrics),
    }


def export_module(
    spec: SearchSpec, view: ArchitectureView, fmt: ExportFormat, size: NetworkSize, stem: str
) -> ExportFile:
    """The architecture's network as TorchScript or a state dict.

    Raises:
        ApiError: 501 when the workers' supernet code is not installed; 422 when the space has
            no network builder or the size is unknown (image folders need ``num_classes``).
    """
    try:
        import torch

        from workers.supernets import SupernetConfig, SupernetError, build_supernet
    except ImportError as error:  # a controller installed without the worker extras
        raise ApiError(
            501,
            "not_implemented",
            f"exporting a PyTorch module needs bonas's worker code and torch: {error}",
        ) from error
    space = build_space(spec)
    arch = space.from_json(view.architecture.arch)
    config = SupernetConfig(**_network_size(spec, size))
    try:
        with torch.device("meta"):
            _check_parameters(build_supernet(space, [arch], config), config)
        network = build_supernet(space, [arch], config)
    except SupernetError as error:
        raise ApiError(422, ErrorReason.INVALID_REQUEST.value, str(error)) from error
    network.eval()
    buffer = io.BytesIO()
    if fmt is ExportFormat.STATE_DICT:
        torch.save(network.state_dict(), buffer)
        return ExportFile(buffer.getvalue(), "application/octet-stream", f"{stem}.pt")
    _script(network, arch, config, torch, buffer)
    return ExportFile(buffer.getvalue(), "application/octet-stream", f"{stem}.torchscript.pt")


def _check_parameters(network: Any, config: Any) -> None:
    """Refuse a network above `MAX_EXPORT_PARAMETERS` (counted on a ``meta`` copy)."""
    count = sum(p.numel() for p in network.parameters()) + sum(b.numel() for b in network.buffers())
    if count > MAX_EXPORT_PARAMETERS:
        raise ApiError(
            422,
            ErrorReason.INVALID_REQUEST.value,
            f"the exported network would hold {count} parameters (channels={config.channels}, "
            f"cells_per_stage={config.cells_per_stage}, num_classes={config.num_classes}); at "
            f"most {MAX_EXPORT_PARAMETERS} are exported: ask for fewer channels or cells",
        )


def _script(network: Any, arch: Any, config: Any, torch: Any, buffer: io.BytesIO) -> None:
    """Trace the one-architecture network on a dummy batch (its forward takes the arch too).

    The spatial size of the dummy batch does not matter: the networks pool globally.
    """

    class SingleArchitecture(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, x: Any) -> Any:
            return self.network(x, arch)

    side = 32 if config.in_channels == 3 else 8
    example = torch.zeros(2, config.in_channels, side, side)
    # torch.jit is deprecated in favour of torch.export, whose programs fix the batch size and
    # take seconds longer to build; TorchScript still loads everywhere without bonas.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(SingleArchitecture().eval(), example, check_trace=False)
        torch.jit.save(traced, buffer)


def _network_size(spec: SearchSpec, size: NetworkSize) -> dict[str, int]:
    evaluator = spec.evaluator
    if isinstance(evaluator, TableEvaluator):
        chosen = dict(TABLE_NETWORK)
    else:
        classes, channels = DATASET_SHAPES.get(evaluator.dataset.name, (None, 3))
        chosen = {
            "channels": evaluator.train.channels,
            "cells_per_stage": evaluator.train.cells_per_stage,
            "in_channels": channels,
        }
        if classes is not None:
            chosen["num_classes"] = classes
    for name in ("num_classes", "in_channels", "channels", "cells_per_stage"):
        value = getattr(size, name)
        if value is not None:
            if not 1 <= value <= MAX_SIZE[name]:
                raise ApiError(
                    422,
                    ErrorReason.INVALID_REQUEST.value,
                    f"{name} must be between 1 and {MAX_SIZE[name]}, got {value}",
                )
            chosen[name] = value
    if "num_classes" not in chosen:
        raise ApiError(
            422,
            ErrorReason.INVALID_REQUEST.value,
            f"the number of classes of dataset {spec.evaluator.dataset.name!r} is not known "  # type: ignore[union-attr]
            "here; pass ?num_classes=N",
        )
    return chosen
