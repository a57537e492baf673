"""The PyTorch family: a small MLP on standardised / one-hot features.

- classification: cross-entropy over one logit per class; labels of any type via
  :class:`~models.encoding.LabelCodec`;
- regression: MSE on the standardised target (predictions are mapped back to target units).

:meth:`TorchMLPModel.fit` trains from a fresh, seeded initialisation; :meth:`TorchMLPModel.update`
fine-tunes the current weights for a few epochs at a lower learning rate: the "finetune"
continual-learning strategy. The encoder and target scaling stay as fitted, because the weights
were learned against them. Training is deterministic on CPU for a given seed and never touches
the global RNG (it runs under :func:`torch.random.fork_rng`).

Pickling moves the weights to CPU (see ``__getstate__``), so a model trained on a GPU loads on a
CPU-only server; the registry logs it through (cloud)pickle.

>>> import numpy as np, pandas as pd
>>> from models.config import TorchConfig
>>> X = pd.DataFrame({"x": np.linspace(-1, 1, 200), "c": ["a", "b"] * 100})
>>> y = np.where(X["x"] > 0, "UP", "DOWN")
>>> model = TorchMLPModel("classification", TorchConfig(epochs=30, device="cpu")).fit(X, y)
>>> model.predict(X.iloc[[0, -1]]).tolist()
['DOWN', 'UP']
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from models.base import ConfigError, FamilyBase, Task, check_task
from models.config import TorchConfig
from models.encoding import LabelCodec, TabularEncoder, check_features, check_labels

_PREDICT_CHUNK = 65_536  # rows per forward pass in predict, to bound memory on huge frames


@dataclass(frozen=True)
class MLPSpec:
    """The shape of the network. Saved with the weights, so a checkpoint describes itself."""

    n_inputs: int
    hidden_sizes: tuple[int, ...]
    n_outputs: int
    dropout: float = 0.0


class MLP(nn.Module):
    """``Linear -> ReLU (-> Dropout)`` blocks, then a linear head.

    The head is its own layer so :meth:`add_outputs` can widen it when fine-tuning meets a new
    class, without touching the learned body.
    """

    def __init__(self, spec: MLPSpec) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        width = spec.n_inputs
        for hidden in spec.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if spec.dropout > 0:
                layers.append(nn.Dropout(spec.dropout))
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, spec.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def add_outputs(self, n_new: int) -> None:
        """Widen the head by ``n_new`` freshly initialised outputs, keeping the existing ones."""
        old = self.head
        new = nn.Linear(old.in_features, old.out_features + n_new).to(old.weight.device)
        with torch.no_grad():
            new.weight[: old.out_features] = old.weight
            new.bias[: old.out_features] = old.bias
        self.head = new
        self.spec = MLPSpec(
            self.spec.n_inputs,
            self.spec.hidden_sizes,
            self.spec.n_outputs + n_new,
            self.spec.dropout,
        )


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; ``"cuda"`` without CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "The 'device' of TorchConfig is 'cuda' but CUDA is not available here; use 'auto' "
            "(CUDA when present, else CPU) or 'cpu'."
        )
    if device not in ("cpu", "cuda"):
        raise ConfigError(
            f"The 'device' of TorchConfig must be one of ['auto', 'cpu', 'cuda']. Got {device!r}."
        )
    return torch.device(device)


class TorchMLPModel(FamilyBase):
    """A PyTorch MLP behind the :class:`~models.base.DriftModel` contract.

    Parameters
    ----------
    task
        ``"classification"`` or ``"regression"``.
    config
        Architecture and training knobs (:class:`~models.config.TorchConfig`); defaults if None.
    seed
        Seeds the initialisation and the batch order; ``update`` derives its own seeds from it.
    n_threads
        torch intra-op threads while training and predicting on CPU (None: leave the setting).

    Attributes
    ----------
    module_ : MLP
        The trained network (on ``device_``).
    encoder_ : TabularEncoder
        Feature encoding learned in ``fit``.
    codec_ : LabelCodec or None
        Class labels (classification only).
    y_mean_, y_scale_ : float
        Target standardisation (regression only; 0 and 1 for classification).
    n_updates_ : int
        How many times ``update`` fine-tuned since ``fit``.
    train_loss_ : float
        Mean loss of the last training epoch.
    """

    learns_online = False

    def __init__(
        self,
        task: Task = "classification",
        config: TorchConfig | None = None,
        seed: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.task = task
        self.config = config
        self.seed = seed
        self.n_threads = n_threads

    @property
    def _cfg(self) -> TorchConfig:
        return self.config if self.config is not None else TorchConfig()

    # -- learning -------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> TorchMLPModel:
        task = check_task(self.task)
        cfg = self._cfg
        device = resolve_device(cfg.device)
        X = check_features(X)
        y = check_labels(y, len(X), task)
        encoder = TabularEncoder().fit(X)
        codec = LabelCodec().fit(y) if task == "classification" else None
        if codec is None:
            self.y_mean_, self.y_scale_ = float(y.mean()), float(y.std()) or 1.0
        else:
            self.y_mean_, self.y_scale_ = 0.0, 1.0
        spec = MLPSpec(
            n_inputs=encoder.n_features_out_,
            hidden_sizes=tuple(cfg.hidden_sizes),
            n_outputs=codec.n_classes if codec is not None else 1,
            dropout=cfg.dropout,
        )
        with _seeded(self.seed, device):
            module = MLP(spec).to(device)
        self.encoder_, self.codec_, self.module_ = encoder, codec, module
        self.n_updates_ = 0
        self._train(X, y, epochs=cfg.epochs, lr=cfg.lr, seed=self.seed, device=device)
        self.feature_names_in_ = encoder.feature_names_in_  # fitted only once training succeeded
        return self

    def update(self, X: pd.DataFrame, y: np.ndarray) -> TorchMLPModel:
        """Fine-tune the current weights on ``(X, y)`` (``fit`` if not fitted yet).

        Classes not seen before get new, freshly initialised outputs.
        """
        if not self.is_fitted:
            return self.fit(X, y)
        cfg = self._cfg
        device = resolve_device(cfg.device)
        X = check_features(X, self.feature_names_in_, where="update")
        y = check_labels(y, len(X), self.task, where="update")
        if self.codec_ is not None:
            n_new = len(self.codec_.unseen(y))
            if n_new:
                self.codec_.extend(y)
                with _seeded(self.seed + 10_007 * (self.n_updates_ + 1), device):
                    self.module_.add_outputs(n_new)
        self.n_updates_ += 1
        # A different, still deterministic, batch order for every update.
        seed = self.seed + 1_000_003 * self.n_updates_
        self._train(X, y, epochs=cfg.finetune_epochs, lr=cfg.finetune_lr, seed=seed, device=device)
        return self

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        if self.codec_ is not None:
            return torch.from_numpy(self.codec_.encode(y))
        scaled = (y.astype(np.float64) - self.y_mean_) / self.y_scale_
        return torch.from_numpy(scaled.astype(np.float32)).unsqueeze(1)

    def _train(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        epochs: int,
        lr: float,
        seed: int,
        device: torch.device,
    ) -> None:
        """Mini-batch AdamW over shuffled rows; the whole set lives on ``device`` once."""
        cfg = self._cfg
        inputs = torch.from_numpy(self.encoder_.transform(X)).to(device)
        targets = self._targets(y).to(device)
        loss_fn = F.cross_entropy if self.codec_ is not None else F.mse_loss
        module = self.module_.to(device)
        optimiser = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=cfg.weight_decay)
        n, batch = len(inputs), min(cfg.batch_size, len(inputs))
        order_rng = torch.Generator().manual_seed(seed)  # batch order, independent of dropout
        module.train()
        with _seeded(seed, device), _threads(self.n_threads):
            for _ in range(epochs):
                order = torch.randperm(n, generator=order_rng).to(device)
                total = torch.zeros((), device=device)
                for start in range(0, n, batch):
                    idx = order[start : start + batch]
                    optimiser.zero_grad(set_to_none=True)
                    loss = loss_fn(module(inputs[idx]), targets[idx])
                    loss.backward()
                    optimiser.step()
                    total += loss.detach() * len(idx)
        module.eval()
        self.train_loss_ = float(total) / n

    # -- inference ------------------------------------------------------------------------------

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self._check_is_fitted()
        X = check_features(X, self.feature_names_in_, where="predict")
        inputs = torch.from_numpy(self.encoder_.transform(X))
        device = next(self.module_.parameters()).device
        self.module_.eval()
        outs = []
        with torch.inference_mode(), _threads(self.n_threads):
            for start in range(0, len(inputs), _PREDICT_CHUNK):
                outs.append(self.module_(inputs[start : start + _PREDICT_CHUNK].to(device)).cpu())
        out = torch.cat(outs) if outs else torch.zeros((0, self.module_.spec.n_outputs))
        if self.codec_ is not None:
            return self.codec_.decode(out.argmax(dim=1).numpy())
        return out[:, 0].double().numpy() * self.y_scale_ + self.y_mean_

    # -- persistence ----------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Weights as CPU tensors plus the :class:`MLPSpec` that rebuilds the network."""
        state = self.__dict__.copy()
        module = state.pop("module_", None)
        if module is not None:
            state["module_spec_"] = module.spec
            state["module_weights_"] = {
                k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()
            }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        spec = state.pop("module_spec_", None)
        weights = state.pop("module_weights_", None)
        self.__dict__.update(state)
        if spec is not None:
            module = MLP(spec)
            module.load_state_dict(weights)
            self.module_ = module.eval()


@contextmanager
def _threads(n_threads: int | None) -> Iterator[None]:
    """Set torch's intra-op threads inside the block and restore them afterwards."""
    before = torch.get_num_threads()
    if n_threads is not None and n_threads != before:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNGs inside the block and restore them afterwards.

    Initialisation and dropout draw from the global generator; forking it keeps training
    deterministic without changing the RNG state the rest of the process sees.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
