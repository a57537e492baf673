"""ONNX export of the PyTorch family and inference with onnxruntime.

:func:`export_onnx` turns the network of a fitted :class:`~models.torch_family.TorchMLPModel`
into ONNX bytes (input ``"features"``: the encoded float32 matrix, output ``"outputs"``: logits
or the standardised regression output, both with a dynamic batch axis). :class:`OnnxMLPModel`
runs those bytes with onnxruntime behind the same ``predict`` as the torch model: the same
feature checks, the same encoder, labels decoded by the same codec and regression outputs mapped
back to target units; no torch forward pass is involved.

Tolerance
---------
:data:`ONNX_TOLERANCE` (``1e-4``) is how far onnxruntime may be from torch:

- absolute, on raw network outputs (logits, standardised regression output), as measured by
  :func:`max_output_difference`;
- for regression predictions, relative (``rtol``) plus the raw tolerance carried to target units
  (``atol = ONNX_TOLERANCE * y_scale_``), since a raw difference ``d`` becomes ``d * y_scale_``.

Both run the same float32 arithmetic, but their matrix-multiply kernels sum in different orders
(blocking, vectorisation, fused bias), so results differ in the last bits: measured 6e-8 to
8e-6 on these networks (the largest for the default 64x64 MLP on 50k rows), so 1e-4 leaves more
than an order of magnitude of margin and still catches a wrong weight or a wrong layer. Class labels are the argmax of the logits, so they agree except where
the two top logits of a row are within the tolerance of each other.

>>> import numpy as np, pandas as pd
>>> from models.config import TorchConfig
>>> from models.torch_family import TorchMLPModel
>>> X = pd.DataFrame({"x": np.linspace(-1, 1, 200), "c": ["a", "b"] * 100})
>>> y = np.where(X["x"] > 0, "UP", "DOWN")
>>> model = TorchMLPModel("classification", TorchConfig(epochs=30, device="cpu")).fit(X, y)
>>> onnx_model = OnnxMLPModel.from_torch(model)
>>> onnx_model.predict(X.iloc[[0, -1]]).tolist()
['DOWN', 'UP']
>>> bool((onnx_model.predict(X) == model.predict(X)).all())
True
>>> max_output_difference(model, onnx_model, X) < ONNX_TOLERANCE
True
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import torch

from models.base import ModelError, Task
from models.encoding import LabelCodec, TabularEncoder, check_features
from models.torch_family import _PREDICT_CHUNK, TorchMLPModel, _threads

#: Allowed absolute difference between torch and onnxruntime on raw network outputs (see the
#: module docstring for what it means for predictions, and why it is not zero).
ONNX_TOLERANCE = 1e-4

#: ONNX opset of the exported graph, pinned so that the bytes do not change with torch's default
#: (onnxruntime supports it from 1.17, onnx from 1.15).
ONNX_OPSET = 20

INPUT_NAME = "features"
OUTPUT_NAME = "outputs"


class OnnxExportError(ModelError):
    """A model cannot be exported to ONNX, or ONNX bytes do not fit the model they came with."""


def _check_fitted_torch(model: object, where: str) -> TorchMLPModel:
    if not isinstance(model, TorchMLPModel):
        raise OnnxExportError(
            f"The 'model' parameter of {where} must be a fitted TorchMLPModel. Got "
            f"{type(model).__name__} instead; only the 'torch_mlp' family exports to ONNX, "
            "serve other families as they are."
        )
    if not model.is_fitted:
        raise OnnxExportError(
            f"The 'model' parameter of {where} must be a fitted TorchMLPModel. Got an unfitted "
            "TorchMLPModel; call fit(X, y) before exporting it."
        )
    return model


def export_onnx(model: TorchMLPModel) -> bytes:
    """The network of a fitted torch model as ONNX bytes.

    A CPU copy of the network is exported in eval mode (the model itself is left as it is) with
    torch's TorchScript-based exporter (``dynamo=False``: ~0.2 s against ~3 s for the
    torch.export-based one on these small MLPs). Its deprecation warnings are silenced here only.

    Parameters
    ----------
    model
        A fitted :class:`~models.torch_family.TorchMLPModel`.

    Returns
    -------
    bytes
        A serialised ONNX model: input ``"features"`` of shape ``(batch, n_encoded_features)``,
        output ``"outputs"`` of shape ``(batch, n_outputs)``, both float32.

    Raises
    ------
    OnnxExportError
        If ``model`` is not a fitted TorchMLPModel.

    Examples
    --------
    >>> export_onnx("not a model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    models.onnx_export.OnnxExportError: The 'model' parameter of export_onnx must be a fitted ...
    """
    model = _check_fitted_torch(model, "export_onnx")
    module = copy.deepcopy(model.module_).to("cpu").eval()
    # Batch 2, not 1: the batch axis is dynamic anyway, and 2 cannot be mistaken for a constant.
    example = torch.zeros((2, module.spec.n_inputs), dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter announces its own deprecation on every call.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]  # typed as a path, but the legacy exporter takes files
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    return buffer.getvalue()


def _session(onnx_bytes: bytes, n_threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 0 if n_threads is None else n_threads  # 0: ORT's default
    options.inter_op_num_threads = 1  # a chain of layers: nothing to run side by side
    try:
        return ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own pybind exception types
        raise OnnxExportError(
            f"onnxruntime could not load the ONNX bytes ({type(err).__name__}: {err}); pass the "
            "bytes export_onnx(model) returned, or None to export the model again."
        ) from err


class OnnxMLPModel:
    """A fitted torch MLP served by onnxruntime, with the same ``predict`` as the torch model.

    Build it with :meth:`from_torch`. It keeps copies of the torch model's encoder, label codec
    and target scaling, and an onnxruntime session on the CPU. ``predict`` may be called from
    several threads at once (``InferenceSession.run`` is thread-safe). Pickling keeps the ONNX
    bytes and rebuilds the session on load (a session itself does not pickle).

    Parameters
    ----------
    onnx_bytes
        The network, as returned by :func:`export_onnx`.
    task
        ``"classification"`` or ``"regression"``.
    encoder
        The fitted feature encoder the network was trained on.
    codec
        The class labels (classification), None for regression.
    y_mean, y_scale
        Target standardisation (regression; 0 and 1 for classification).
    n_threads
        onnxruntime intra-op threads per ``predict`` (None: onnxruntime's default, all cores).

    Attributes
    ----------
    feature_names_in_ : tuple of str
        The feature columns ``predict`` expects.
    n_outputs_ : int
        Width of the network output (number of classes, or 1).
    """

    def __init__(
        self,
        onnx_bytes: bytes,
        *,
        task: Task,
        encoder: TabularEncoder,
        codec: LabelCodec | None,
        y_mean: float = 0.0,
        y_scale: float = 1.0,
        n_threads: int | None = 1,
    ) -> None:
        self.onnx_bytes = onnx_bytes
        self.task = task
        self.encoder_ = encoder
        self.codec_ = codec
        self.y_mean_ = y_mean
        self.y_scale_ = y_scale
        self.n_threads = n_threads
        self.feature_names_in_ = encoder.feature_names_in_
        self._session = _session(onnx_bytes, n_threads)
        self.n_outputs_ = self._check_signature()

    @classmethod
    def from_torch(
        cls,
        model: TorchMLPModel,
        onnx_bytes: bytes | None = None,
        *,
        n_threads: int | None = 1,
    ) -> OnnxMLPModel:
        """Serve a fitted torch model with onnxruntime.

        Parameters
        ----------
        model
            A fitted :class:`~models.torch_family.TorchMLPModel`.
        onnx_bytes
            Its network from :func:`export_onnx`; None exports it now.
        n_threads
            onnxruntime intra-op threads (None: onnxruntime's default).

        Raises
        ------
        OnnxExportError
            If ``model`` is not a fitted TorchMLPModel, or ``onnx_bytes`` do not load or do not
            match the model's input and output widths.
        """
        model = _check_fitted_torch(model, "OnnxMLPModel.from_torch")
        if onnx_bytes is None:
            onnx_bytes = export_onnx(model)
        onnx_model = cls(
            onnx_bytes,
            task=model.task,
            encoder=copy.deepcopy(model.encoder_),
            codec=copy.deepcopy(model.codec_),
            y_mean=model.y_mean_,
            y_scale=model.y_scale_,
            n_threads=n_threads,
        )
        if onnx_model.n_outputs_ != model.module_.spec.n_outputs:
            raise OnnxExportError(
                f"The 'onnx_bytes' have {onnx_model.n_outputs_} outputs but the model has "
                f"{model.module_.spec.n_outputs}; they were exported from another model (or "
                "before an update widened it). Pass export_onnx(model), or None to export now."
            )
        return onnx_model

    def _check_signature(self) -> int:
        """Check the graph's input/output names and widths; return the output width."""
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        n_in = self.encoder_.n_features_out_
        if (
            [i.name for i in inputs] != [INPUT_NAME]
            or [o.name for o in outputs] != [OUTPUT_NAME]
            or len(inputs[0].shape) != 2
            or inputs[0].shape[1] != n_in
            or len(outputs[0].shape) != 2
            or not isinstance(outputs[0].shape[1], int)
        ):
            got = [(i.name, i.shape) for i in inputs], [(o.name, o.shape) for o in outputs]
            raise OnnxExportError(
                f"The 'onnx_bytes' must have one input {INPUT_NAME!r} of shape (batch, {n_in}) "
                f"and one output {OUTPUT_NAME!r} of shape (batch, n_outputs). Got inputs "
                f"{got[0]} and outputs {got[1]}; pass the bytes export_onnx(model) returned "
                "for this model."
            )
        n_out: int = outputs[0].shape[1]
        return n_out

    def _outputs(self, X: pd.DataFrame) -> np.ndarray:
        """Raw network outputs (float32, ``(n_rows, n_outputs_)``) for a feature frame."""
        X = check_features(X, self.feature_names_in_, where="predict")
        inputs = self.encoder_.transform(X)
        outs = []
        for start in range(0, len(inputs), _PREDICT_CHUNK):
            feed = {INPUT_NAME: inputs[start : start + _PREDICT_CHUNK]}
            outs.append(self._session.run([OUTPUT_NAME], feed)[0])
        return np.concatenate(outs) if outs else np.zeros((0, self.n_outputs_), np.float32)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Labels (classification) or target values (regression, float64) for ``X``.

        Same checks, dtypes and semantics as :meth:`TorchMLPModel.predict`: extra columns are
        ignored, missing ones raise :class:`~models.base.InvalidDataError`, zero rows give an
        empty array.
        """
        out = self._outputs(X)
        if self.codec_ is not None:
            return self.codec_.decode(out.argmax(axis=1))
        return out[:, 0].astype(np.float64) * self.y_scale_ + self.y_mean_

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_session"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._session = _session(self.onnx_bytes, self.n_threads)

    def __repr__(self) -> str:
        return (
            f"OnnxMLPModel(task={self.task!r}, n_features={len(self.feature_names_in_)}, "
            f"n_outputs={self.n_outputs_}, n_threads={self.n_threads})"
        )


def _torch_outputs(model: TorchMLPModel, X: pd.DataFrame) -> np.ndarray:
    """Raw network outputs of the torch model, computed as its ``predict`` computes them."""
    X = check_features(X, model.feature_names_in_, where="predict")
    inputs = torch.from_numpy(model.encoder_.transform(X))
    device = next(model.module_.parameters()).device
    model.module_.eval()
    outs = []
    with torch.inference_mode(), _threads(model.n_threads):
        for start in range(0, len(inputs), _PREDICT_CHUNK):
            outs.append(model.module_(inputs[start : start + _PREDICT_CHUNK].to(device)).cpu())
    if not outs:
        return np.zeros((0, model.module_.spec.n_outputs), np.float32)
    return torch.cat(outs).numpy()


def max_output_difference(model: TorchMLPModel, onnx_model: OnnxMLPModel, X: pd.DataFrame) -> float:
    """Largest absolute difference between torch's and onnxruntime's raw outputs on ``X``.

    Compare it with :data:`ONNX_TOLERANCE`. Zero rows give 0.0.

    Raises
    ------
    OnnxExportError
        If ``model`` is not a fitted TorchMLPModel or the two networks have different widths.
    """
    model = _check_fitted_torch(model, "max_output_difference")
    expected, got = _torch_outputs(model, X), onnx_model._outputs(X)
    if expected.shape != got.shape:
        raise OnnxExportError(
            f"The torch model gives outputs of shape {expected.shape} and the ONNX model "
            f"{got.shape}; export the ONNX model from this torch model (OnnxMLPModel.from_torch)."
        )
    if expected.size == 0:
        return 0.0
    return float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64))))
