"""The MLP on SNP dosages: the core's torch MLP, early-stopped on whole held-out families.

Imported only when the model is used (torch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from assay.kit import Dataset, MLPModel, TrainConfig, carve_validation, torch_factory

from assay_breeding.models import dosages

SNP_MLP_TRAINING = TrainConfig(
    max_epochs=200, lr=1e-3, weight_decay=1e-2, patience=10, batch_size=128
)


class SNPMLP(MLPModel):
    """With no validation set from the protocol, `valid_fraction` of the training
    families (whole, so full sibs never straddle it) is held out for early stopping."""

    def __init__(
        self,
        hidden: Sequence[int] = (64,),
        dropout: float = 0.3,
        valid_fraction: float = 0.1,
        config: TrainConfig | None = None,
    ) -> None:
        super().__init__(
            hidden=tuple(hidden),
            dropout=dropout,
            featurizer=dosages,
            config=config or SNP_MLP_TRAINING,
        )
        self.valid_fraction = valid_fraction

    def fit(self, train: Dataset, *, valid: Dataset | None = None, seed: int = 0) -> None:
        if valid is None and self.valid_fraction > 0:
            rows = np.arange(len(train), dtype=np.int64)
            groups = None if train.groups is None else np.asarray(train.groups)
            fit_rows, valid_rows = carve_validation(rows, self.valid_fraction, seed, groups)
            train, valid = train.subset(fit_rows), train.subset(valid_rows)
        super().fit(train, valid=valid, seed=seed)


mlp = torch_factory(SNPMLP, SNP_MLP_TRAINING)
"""`breeding.mlp`: every training knob (max_epochs, lr, batch_size, ...) is a parameter."""
