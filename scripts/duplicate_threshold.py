"""The experiment behind the duplicate search's default threshold (docs/dataset-explorer.md).

    .venv/bin/python scripts/duplicate_threshold.py

EfficientNet-Lite0's embeddings (float16, as a run stores them) of the sample photos, of
scikit-image's sample pictures and of 40 LFW face thumbnails; the cosine similarity of every pair
of distinct pictures, and of every picture with planted copies of itself (half and quarter size,
JPEG quality 40, half size at quality 20, 90% and 80% centre crops, a 10% shift crop). Prints the
most similar distinct pairs and the least similar planted copies, per kind.
"""

# ruff: noqa: E402, E701, E702, E741
import io
import itertools
import os
import sys

import numpy as np
import skimage.data as sd
from PIL import Image

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import model_zoo
from gradcam import Explainer

e = Explainer(model_zoo.load_model("efficientnet-lite0"))
photos = {}
for f in sorted(os.listdir(str(__import__("pathlib").Path(__file__).resolve().parents[1] / "sample_images"))):
    if f.endswith(".jpg"):
        photos[f] = np.asarray(
            Image.open(
                str(__import__("pathlib").Path(__file__).resolve().parents[1] / "sample_images") + "/" + f
            ).convert("RGB")
        )
for name in [
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "horse",
    "brick",
    "grass",
    "gravel",
    "coins",
    "camera",
    "moon",
    "page",
    "text",
    "clock",
    "cell",
    "colorwheel",
    "logo",
    "motorcycle_left",
    "microaneurysms",
]:
    try:
        a = getattr(sd, name)()
    except Exception as x:
        print("skip", name, x)
        continue
    if isinstance(a, tuple):
        a = a[0]
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    if a.shape[-1] == 4:
        a = a[..., :3]
    photos["sk_" + name] = np.ascontiguousarray(a.astype(np.uint8))
lfw = sd.lfw_subset()[:40]  # faces of different people (the first 100 are faces)
for i, f in enumerate(lfw):
    g = (f * 255).astype(np.uint8)
    photos[f"lfw_{i}"] = np.stack([g] * 3, -1)


def jpeg(a, q):
    b = io.BytesIO()
    Image.fromarray(a).save(b, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))


def variants(a):
    h, w = a.shape[:2]
    small = np.asarray(Image.fromarray(a).resize((max(1, w // 2), max(1, h // 2)), Image.BICUBIC))
    return {
        "resized50": small,
        "resized25": np.asarray(Image.fromarray(a).resize((max(1, w // 4), max(1, h // 4)), Image.BICUBIC)),
        "jpeg40": jpeg(a, 40),
        "jpeg20_resized": jpeg(small, 20),
        "crop90": a[h // 20 : h - h // 20, w // 20 : w - w // 20],
        "crop80": a[h // 10 : h - h // 10, w // 10 : w - w // 10],
        "shift10": a[:, w // 10 :],
    }


names = list(photos)
E = e.embeddings([photos[n] for n in names])


def norm(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


En = norm(E.astype(np.float16).astype(np.float32))
S = En @ En.T
distinct = []
for i, j in itertools.combinations(range(len(names)), 2):
    distinct.append((S[i, j], names[i], names[j]))
distinct.sort(reverse=True)
print("most similar distinct pairs:")
for s, a, b in distinct[:12]:
    print(f"  {s:.4f} {a} {b}")
planted = []
for n in names:
    if n.startswith("lfw"):
        continue
    vs = variants(photos[n])
    V = norm(e.embeddings(list(vs.values())).astype(np.float16).astype(np.float32))
    for k, v in zip(vs, V):
        planted.append((float(v @ En[names.index(n)]), n, k))
planted.sort()
print("least similar planted copies:")
for s, n, k in planted[:15]:
    print(f"  {s:.4f} {n} {k}")
by_kind = {}
for s, _n, k in planted:
    by_kind.setdefault(k, []).append(s)
for k, v in by_kind.items():
    print(k, f"min {min(v):.4f} median {np.median(v):.4f}")
print(
    f"max distinct {distinct[0][0]:.4f}",
    "min planted (excl resized25) {:.4f}".format(min(s for s, n, k in planted if k != "resized25")),
)
print("=== photos only (no 25x25 LFW thumbnails) ===")
d2 = [(s, a, b) for s, a, b in distinct if not a.startswith("lfw") and not b.startswith("lfw")]
for s, a, b in d2[:8]:
    print(f"  {s:.4f} {a} {b}")
mild = ("resized50", "jpeg40", "crop90", "shift10")
for group, test in (("sample photos", lambda n: n.endswith(".jpg")), ("scikit-image", lambda n: n.startswith("sk_"))):
    for k in by_kind:
        v = [s for s, n, kk in planted if kk == k and test(n)]
        print(group, k, f"min {min(v):.4f}")
