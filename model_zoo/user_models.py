"""Safe loading of users' own Keras classifiers (``.keras`` archives and legacy ``.h5`` files).

Order of checks, cheapest and safest first:

1. the file exists, has a supported extension and is at most ``gradcam.limits.MAX_MODEL_BYTES``;
2. the model configuration JSON is read *without deserializing anything* (``zipfile`` + ``json`` for
   ``.keras``, the ``model_config`` attribute through ``h5py`` for ``.h5``) and walked recursively:
   Lambda layers (which carry Python code), objects from a module outside ``keras``, custom
   registered objects, unknown class names, ``TFSMLayer`` (runs a SavedModel graph from disk) and
   lookup layers whose vocabulary is a file path are refused with :class:`UnsafeModelError`;
3. only then ``keras.saving.load_model(path, safe_mode=True, compile=False)``;
4. the model must have one image input ``(None, H, W, C)`` with C in {1, 3} and one ``(None, K)``
   output; a final softmax is stripped (without touching the loaded model) so explanations use logits.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gradcam import limits

from .errors import InvalidModelError, UnsafeModelError

#: Layers that run arbitrary Python code or graphs, whatever their configuration.
_CODE_LAYERS = {"Lambda", "TFSMLayer", "__lambda__"}
#: Layers whose vocabulary may be a path to a file on disk.
_LOOKUP_LAYERS = {"StringLookup", "IntegerLookup", "TextVectorization"}
#: Top-level model classes that are not attributes of keras.layers.
_MODEL_CLASSES = {"Functional", "Sequential", "Model", "InputLayer"}
#: Serialization markers for plain data (symbolic tensors in the graph, arrays, bytes): no code.
_DATA_MARKERS = {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__"}
DEFAULT_DYNAMIC_SIZE = (224, 224)


def _keras_class_names() -> set:
    """Names of the built-in classes a legacy config may name without a ``module``."""
    import keras

    names = set(_MODEL_CLASSES)
    for namespace in (
        keras.layers,
        keras.initializers,
        keras.regularizers,
        keras.constraints,
        keras.activations,
        keras.optimizers,
        keras.losses,
        keras.metrics,
        keras.optimizers.schedules,
        keras.dtype_policies,
    ):
        names.update(n for n in dir(namespace) if not n.startswith("_"))
    return names


def _walk(node: Any, where: str = "model") -> Iterator[tuple[dict, str]]:
    """Yield every serialized object (a dict with ``class_name``) with a readable location."""
    if isinstance(node, dict):
        if "class_name" in node:
            cfg = node.get("config")
            name = cfg.get("name") if isinstance(cfg, dict) else None
            where = f"{where} > {node['class_name']}" + (f" '{name}'" if name else "")
            yield node, where
        for _key, value in node.items():
            yield from _walk(value, where)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, where)


#: Where Keras looks up a serialized built-in function (``class_name: "function"``) by name; a
#: function object in a model config must be one of these (an activation, loss, metric, ...).
_FUNCTION_NAMESPACES = ("activations", "losses", "metrics", "initializers", "regularizers", "constraints")


def _is_keras_module(module: Any) -> bool:
    """``keras`` itself or a submodule: not merely a name that starts with "keras" (``kerasevil``)."""
    module = str(module)
    return module == "keras" or module.startswith("keras.")


def _check_function(obj: dict, module: Any, where: str, path: str, hint: str) -> None:
    """A serialized function must be a Keras built-in activation, loss, metric, initializer,
    regularizer or constraint. Keras writes these with ``module: "builtins"`` and the bare name;
    any other function (``keras.utils.get_file``, ``keras.config.enable_unsafe_deserialization``,
    ``os.system``) could act on this machine when the model is built."""
    import keras

    name = obj.get("config")
    module = "builtins" if module is None else str(module)
    namespaces = [n for n in _FUNCTION_NAMESPACES if module in ("builtins", f"keras.{n}")]
    found = (
        isinstance(name, str)
        and not name.startswith("_")
        and any(callable(getattr(getattr(keras, n), name, None)) for n in namespaces)
    )
    if not found:
        shown = f"{module}.{name}" if isinstance(name, str) else f"{module} {name!r:.80}"
        raise UnsafeModelError(
            f"{path}: refused before loading: {where} is the function '{shown}'; a function in a model "
            "configuration must be a built-in Keras activation, loss or metric. Other functions can "
            f"act on this machine when the model is built.{hint}"
        )


def check_config(config: Any, path: str) -> None:
    """Refuse a model configuration that could run code or read files when deserialized.

    Raises :class:`UnsafeModelError` naming the offending object and where it sits."""
    known = None
    for obj, where in _walk(config):
        cls = str(obj.get("class_name"))
        module = obj.get("module")
        registered = obj.get("registered_name")
        hint = (
            " Rebuild the model from built-in Keras layers only (move custom code into "
            "preprocessing outside the model), save it again, and retry."
        )
        if cls in _CODE_LAYERS:
            raise UnsafeModelError(
                f"{path}: refused before loading: it contains a {cls} layer ({where}), which runs "
                f"arbitrary Python code or a graph from disk when loaded. Expected built-in layers only.{hint}"
            )
        if cls == "function":
            _check_function(obj, module, where, path, hint)
            continue
        if module is not None and not _is_keras_module(module):
            raise UnsafeModelError(
                f"{path}: refused before loading: {where} comes from module '{module}'; expected objects "
                f"from Keras itself (module 'keras...'). Custom and non-Keras objects can run code.{hint}"
            )
        if registered not in (None, cls) and not str(registered).startswith("keras"):
            raise UnsafeModelError(
                f"{path}: refused before loading: {where} is the custom registered object "
                f"'{registered}'; expected built-in Keras objects only.{hint}"
            )
        if module is None and cls not in _DATA_MARKERS:
            # Legacy (.h5 / Keras 2) configs carry no module: the class name must be a Keras built-in.
            if known is None:
                known = _keras_class_names()
            if cls not in known:
                raise UnsafeModelError(
                    f"{path}: refused before loading: {where} is not a built-in Keras class "
                    f"(found class_name '{cls}'); custom objects can run code.{hint}"
                )
        if cls in _LOOKUP_LAYERS:
            cfg = obj.get("config") or {}
            vocab = cfg.get("vocabulary")
            if isinstance(vocab, str):
                raise UnsafeModelError(
                    f"{path}: refused before loading: {where} reads its vocabulary from the file "
                    f"'{vocab}'; expected an inline vocabulary (a list) or none. File-backed lookup "
                    "layers read arbitrary files from this machine."
                )


def _scrub(error: object, path: str, shown: str) -> str:
    """An exception's text with the file's path on this machine replaced by the name shown."""
    text = str(error)
    return text.replace(path, shown) if path and shown and path != shown else text


def read_config(path: str, shown: str | None = None) -> Any:
    """Read the model configuration of a ``.keras`` or ``.h5`` file without deserializing it.

    ``shown`` is the file's name in messages (the name the person uploaded; default ``path``)."""
    shown = shown or path
    lower = path.lower()
    if lower.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise InvalidModelError(
                f"{shown}: expected a .keras archive (a zip file with config.json); found a file that "
                "is not a zip archive. Save the model with model.save('name.keras')."
            )
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise InvalidModelError(
                    f"{shown}: expected a Keras archive containing config.json (and model.weights.h5); "
                    f"found a zip file with {sorted(names)[:6]}. Save the model with model.save('name.keras')."
                )
            cap = limits.MAX_MODEL_CONFIG_BYTES
            with archive.open("config.json") as entry:  # read at most cap + 1 bytes, whatever the header says
                data = entry.read(cap + 1)
            if len(data) > cap:
                raise InvalidModelError(
                    f"{shown}: config.json inflates to more than {cap / 2**20:.0f} MiB "
                    f"(GRADCAM_MAX_MODEL_CONFIG_BYTES); real model configurations are far smaller. "
                    "The archive was refused unread; save the model again with model.save('name.keras')."
                )
            try:
                return json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidModelError(f"{shown}: config.json is not valid JSON ({exc}).") from None
    if lower.endswith((".h5", ".hdf5")):
        import h5py

        try:
            with h5py.File(path, "r") as fh:
                raw = fh.attrs.get("model_config")
        except OSError as exc:
            raise InvalidModelError(
                f"{shown}: expected an HDF5 file; could not open it ({_scrub(exc, path, shown)})."
            ) from None
        if raw is None:
            raise InvalidModelError(
                f"{shown}: expected a whole model saved with model.save('name.h5'); the file has no "
                "model_config (it holds weights only?). Save the whole model, preferably as .keras."
            )
        if isinstance(raw, np.ndarray) and raw.shape == ():
            raw = raw.item()
        if not isinstance(raw, (str, bytes)):
            raise InvalidModelError(
                f"{shown}: expected the model_config attribute to be JSON text; found "
                f"{type(raw).__name__} data. Save the whole model with model.save('name.keras')."
            )
        if len(raw) > limits.MAX_MODEL_CONFIG_BYTES:
            raise InvalidModelError(
                f"{shown}: the model_config attribute is {len(raw) / 2**20:.0f} MiB, over the "
                f"{limits.MAX_MODEL_CONFIG_BYTES / 2**20:.0f} MiB limit (GRADCAM_MAX_MODEL_CONFIG_BYTES)."
            )
        try:
            return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidModelError(f"{shown}: the model_config attribute is not valid JSON ({exc}).") from None
    raise InvalidModelError(
        f"{shown}: expected a Keras model file ending in .keras or .h5; found "
        f"'{os.path.splitext(path)[1] or 'no extension'}'. Save the model with model.save('name.keras')."
    )


def read_class_names(path: str, expected: int, shown: str | None = None) -> list[str]:
    """Class names from a ``.txt`` (one per line, blank lines ignored) or ``.json`` file (a list of
    strings, or an object mapping index -> name); the count must equal the model's outputs.
    ``shown`` is the file's name in messages (the name the person uploaded; default ``path``)."""
    shown = shown or path
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidModelError(f"{shown}: could not read the class-names file ({_scrub(exc, path, shown)}).") from None
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidModelError(
                f"{shown}: expected JSON (a list of names); it is not valid JSON ({exc})."
            ) from None
        if isinstance(data, dict):
            try:
                data = [data[k] for k in sorted(data, key=int)]
            except ValueError:
                raise InvalidModelError(
                    f"{shown}: expected a list of names or an object with integer keys; found keys {list(data)[:5]}."
                ) from None
        if not isinstance(data, list) or not all(isinstance(n, str) for n in data):
            raise InvalidModelError(f"{shown}: expected a JSON list of strings; found {type(data).__name__}.")
        names = [n.strip() for n in data]
    elif path.lower().endswith(".txt"):
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        raise InvalidModelError(f"{shown}: expected a .txt (one name per line) or .json class-names file.")
    if len(names) != expected:
        raise InvalidModelError(
            f"{shown}: the model has {expected} outputs but the file lists {len(names)} class names. "
            "Give exactly one name per output, in output order."
        )
    return names


def _is_softmax_layer(layer) -> bool:
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return True
    if isinstance(layer, keras.layers.Activation):
        return getattr(layer.activation, "__name__", "") == "softmax"
    return False


def logits_model(model):
    """Return ``(model_with_logits_output, stripped: bool)`` without modifying ``model``.

    A final ``Softmax``/``Activation('softmax')`` layer is skipped by taking its input tensor; a final
    ``Dense(..., activation='softmax')`` is replaced by a layer computing the same dense's
    pre-activation (``x @ kernel + bias``) with the *same* weight variables."""
    import keras

    last = model.layers[-1]
    # One input (checked by the caller): pass the tensor itself, not a one-element list, so calling
    # the new model with a plain array matches its input structure.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    if _is_softmax_layer(last):
        return keras.Model(inputs, last.input, name=f"{model.name}_logits"), True
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        return keras.Model(inputs, DenseLogits(last)(last.input), name=f"{model.name}_logits"), True
    return model, False


def _dense_logits_class():
    import keras

    class DenseLogits(keras.layers.Layer):
        """The pre-softmax output of an existing Dense layer, sharing its kernel and bias."""

        #: Read by gradcam.compute: the logits are ``x @ dense.kernel + dense.bias``, so a global
        #: average pooling + this head has CAM and the closed-form gradient.
        computes_dense_logits = True

        def __init__(self, dense, **kwargs):
            super().__init__(name=f"{dense.name}_logits", **kwargs)
            self.dense = dense

        def call(self, x):
            y = keras.ops.matmul(x, self.dense.kernel)
            if self.dense.bias is not None:
                y = y + self.dense.bias
            return y

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (self.dense.units,)

    return DenseLogits


def DenseLogits(dense):  # noqa: N802 - reads like the layer class it builds
    """Build the layer that gives ``dense``'s pre-activation (lazy: keeps keras out of import time)."""
    return _dense_logits_class()(dense)


def load_checked(
    path: str,
    class_names: str | os.PathLike | Sequence[str] | None = None,
    *,
    display_name: str | None = None,
    names_display_name: str | None = None,
):
    """Run every check and load the model.

    Returns ``(logits_model, (h, w), class_names, notes, channels)``; ``notes`` are short remarks for
    the model description (softmax bypassed, dynamic input size, numbered classes).

    ``display_name`` and ``names_display_name`` are the names the person gave the model and the
    class-names file (an upload's original file names): every message uses them instead of the
    path on this machine, which for an upload is a server temp folder that means nothing to them."""
    path = os.fspath(path)
    shown = display_name or path
    if not os.path.isfile(path):
        raise InvalidModelError(f"{shown}: expected a model file; no such file.")
    size = os.path.getsize(path)
    if size > limits.MAX_MODEL_BYTES:
        raise UnsafeModelError(
            f"{shown}: refused: the file is {size / 2**20:.1f} MiB; the limit is "
            f"{limits.MAX_MODEL_BYTES / 2**20:.0f} MiB (GRADCAM_MAX_MODEL_BYTES). Use a smaller model "
            "or raise the limit if you trust the file."
        )
    config = read_config(path, shown)
    check_config(config, shown)

    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        raise InvalidModelError(
            f"{shown}: the configuration passed the safety checks but Keras could not load the model "
            f"({type(exc).__name__}: {' '.join(_scrub(exc, path, shown).split())[:300]}). Save it again with this "
            f"Keras version ({keras.__version__}) as a .keras file."
        ) from None
    notes: list[str] = []
    if len(model.inputs) != 1:
        raise InvalidModelError(
            f"{shown}: expected one image input; found {len(model.inputs)} inputs. Wrap the model so it "
            "takes a single (H, W, C) image."
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise InvalidModelError(
            f"{shown}: expected an image input of shape (batch, H, W, C) with C = 1 or 3 (channels-last); "
            f"found {shape}. Grad-CAM needs a channels-last image classifier."
        )
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        found = [tuple(o.shape) for o in model.outputs]
        raise InvalidModelError(
            f"{shown}: expected one output of shape (batch, classes); found {found}. Grad-CAM explains "
            "classifiers: give the model a single class-score output."
        )
    h, w = shape[1], shape[2]
    if h is None or w is None:
        h, w = DEFAULT_DYNAMIC_SIZE
        notes.append(f"input size is dynamic {shape[1:3]}; images are resized to {h}x{w}")
    n_classes = model.outputs[0].shape[-1]
    if n_classes is None:
        shape = tuple(model.outputs[0].shape)
        raise InvalidModelError(f"{shown}: expected a fixed number of classes; the output is {shape}.")
    out, stripped = logits_model(model)
    if stripped:
        notes.append("the final softmax is bypassed so explanations use logits")
    if class_names is None:
        names = [f"class {i}" for i in range(n_classes)]
        notes.append("no class-names file: classes are numbered")
    elif isinstance(class_names, (str, os.PathLike)):
        names = read_class_names(os.fspath(class_names), n_classes, names_display_name)
    else:
        names = [str(n) for n in class_names]
        if len(names) != n_classes:
            raise InvalidModelError(
                f"{shown}: the model has {n_classes} outputs but {len(names)} class names were given."
            )
    return out, (int(h), int(w)), names, notes, shape[-1]
