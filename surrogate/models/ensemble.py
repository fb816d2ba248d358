"""The alternative surrogate: a deep ensemble of independently trained GCN regressors.

Each member is a full GCN with its own initialisation and data order; the spread of their
predictions is the uncertainty (Lakshminarayanan et al.). As a BoTorch `EnsembleModel` its
posterior is an `EnsemblePosterior`, which the MC acquisition functions sample by picking
members, so it plugs into the same proposer as `BlrSurrogate`.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models.ensemble import EnsembleModel
from torch import Tensor, nn

from surrogate.gcn import DenseGraphs, GCNConfig, GCNRegressor, GraphFeaturizer
from surrogate.models.targets import TargetTransform


class EnsembleSurrogate(EnsembleModel):
    """Several GCN regressors on code rows; outputs on the internal target scale.

    Args:
        featurizer: Turns code rows into dense graphs.
        members: The trained regressors (at least two).
        transform: The internal target scale.
    """

    _num_outputs = 1

    def __init__(
        self,
        featurizer: GraphFeaturizer,
        members: list[GCNRegressor],
        transform: TargetTransform,
    ) -> None:
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        super().__init__()
        self.featurizer = featurizer
        self.members = nn.ModuleList(members)
        self.transform = transform
        self.members.eval()

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size([])

    @property
    def gcn_config(self) -> GCNConfig:
        first = self.members[0]
        assert isinstance(first, GCNRegressor)
        return first.config

    def predict_graphs(self, graphs: DenseGraphs) -> Tensor:
        """Member predictions for dense graphs: `(..., )` graphs -> `(s, ...)`, differentiable."""
        self.members.eval()
        return torch.stack([member(graphs) for member in self.members]).to(torch.float64)

    def forward(self, X: Tensor) -> Tensor:
        """Member predictions at code rows.

        Args:
            X: `batch_shape x q x d` codes.

        Returns:
            `batch_shape x s x q x 1` predictions, `s` the ensemble size.
        """
        lead = X.shape[:-1]
        graphs = self.featurizer.featurize_codes(X.reshape(-1, X.shape[-1]))
        with torch.no_grad():
            values = self.predict_graphs(graphs)  # (s, n)
        values = values.reshape(values.shape[0], *lead)  # s x batch x q
        return values.movedim(0, -2).unsqueeze(-1)

    def moments(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance across members on the internal scale: `(n, d)` -> two `(n,)`."""
        values = self.forward(X)[..., 0]  # (s, n): `X` is one q-batch of n rows
        return values.mean(-2), values.var(-2, unbiased=False)

    def predict_user(self, X: Tensor, observation_noise: bool = True) -> tuple[Tensor, Tensor]:
        """Predicted mean and std in the user's units for `(n, d)` code rows."""
        del observation_noise
        mean, var = self.moments(X)
        return self.transform.untransform_moments(mean, var)

    def to_state(self) -> dict[str, Any]:
        first = self.members[0]
        assert isinstance(first, GCNRegressor)
        return {
            "kind": "ensemble",
            "gcn": dict(first.config.__dict__),
            "num_features": first.encoder.num_features,
            "num_nodes": first.encoder.num_nodes,
            "members": [
                {k: v.clone() for k, v in member.state_dict().items()} for member in self.members
            ],
            "transform": self.transform.state_dict(),
        }

    @classmethod
    def from_state(cls, featurizer: GraphFeaturizer, state: dict[str, Any]) -> EnsembleSurrogate:
        config = GCNConfig(**state["gcn"])
        members = []
        for member_state in state["members"]:
            member = GCNRegressor(int(state["num_features"]), int(state["num_nodes"]), config)
            member.load_state_dict(member_state)
            members.append(member)
        return cls(featurizer, members, TargetTransform.from_state_dict(state["transform"]))
