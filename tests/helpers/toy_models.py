"""Small Keras models the tests build or train: the toy localisation task (squares and discs on
noise) and its CNN, and a vision transformer from built-in layers only."""

from __future__ import annotations

import keras
import numpy as np

SIZE = 40


SQUARE, DISC = 0, 1


def draw(kind: int, rng, image: np.ndarray, center=None) -> tuple[int, int, int, int]:
    """Draw a square or a disc of a random bright colour; return its box (y0, x0, y1, x1)."""
    radius = int(rng.integers(5, 8))
    cy, cx = center if center is not None else rng.integers(radius + 1, SIZE - radius - 1, size=2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    if kind == SQUARE:
        mask = (abs(yy - cy) <= radius) & (abs(xx - cx) <= radius)
    else:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    image[mask] = rng.integers(170, 256, size=3)
    return cy - radius, cx - radius, cy + radius + 1, cx + radius + 1


def noise(rng) -> np.ndarray:
    return rng.integers(0, 90, size=(SIZE, SIZE, 3)).astype(np.uint8)


def dataset(n: int, rng):
    """Images with nothing, a square, a disc, or both (one in each half); multi-hot labels."""
    images, labels, boxes = [], [], []
    for i in range(n):
        image = noise(rng)
        kinds = [(), (SQUARE,), (DISC,), (SQUARE, DISC)][i % 4]
        box = {}
        if len(kinds) == 2:
            halves = rng.permutation([10, 30])
            for kind, cx in zip(kinds, halves):
                box[kind] = draw(kind, rng, image, center=(int(rng.integers(9, SIZE - 9)), int(cx)))
        for kind in kinds if len(kinds) == 1 else ():
            box[kind] = draw(kind, rng, image)
        images.append(image)
        labels.append([float(SQUARE in kinds), float(DISC in kinds)])
        boxes.append(box)
    return np.stack(images), np.array(labels), boxes


def toy_cnn(classes: int, activation: str) -> keras.Model:
    """The small CNN the toy localisation tasks train: three convolutions (the last is
    ``last_conv``), global average pooling and one dense layer of ``classes`` outputs."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(x))


def gap_token_model(size: int = 32, patch: int = 4, dim: int = 16, classes: int = 3) -> keras.Model:
    """A token model from built-in Keras layers only (so it can be saved and loaded safely):
    strided-conv patch embedding, Reshape to tokens, one attention block without position
    embedding, global average pooling over the tokens (no class token)."""
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(dim, patch, strides=patch, name="patch_embed")(x)
    x = keras.layers.Reshape(((size // patch) ** 2, dim), name="tokens")(x)
    y = keras.layers.LayerNormalization(name="norm1")(x)
    y = keras.layers.MultiHeadAttention(2, dim // 2, name="attn")(y, y)
    x = keras.layers.Add(name="add1")([x, y])
    x = keras.layers.LayerNormalization(name="final_norm")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="gap_tokens")


PATCH = 5


class ClassToken(keras.layers.Layer):
    """Prepends a learned class token and adds a learned position embedding (test-only layer)."""

    def build(self, input_shape):
        tokens, channels = input_shape[1:]
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.token = self.add_weight(shape=(1, 1, channels), initializer=init, name="cls")
        self.position = self.add_weight(shape=(1, tokens + 1, channels), initializer=init, name="pos")

    def call(self, x):
        token = keras.ops.broadcast_to(self.token, (keras.ops.shape(x)[0], 1, self.token.shape[-1]))
        return keras.ops.concatenate([token, x], axis=1) + self.position


def vit(
    pooling: str = "class",
    dim: int = 32,
    heads: int = 2,
    blocks: int = 2,
    classes: int = 2,
    activation: str = "sigmoid",
    size: int = SIZE,
    patch: int = PATCH,
    mlp: int = 2,
) -> keras.Model:
    """A pre-norm ViT on ``size`` x ``size`` images (default SIZE, the toy task's) cut into ``patch``
    x ``patch`` tokens, with an MLP ``mlp`` times ``dim`` wide. ``pooling="class"`` reads the class
    token after a final LayerNormalization; ``"mean"`` averages every token, the class token
    included. ViT-Ti/16's shape, for the benchmark:
    ``vit(dim=192, heads=3, blocks=12, classes=1000, activation="softmax", size=224, patch=16,
    mlp=4)``."""
    grid = size // patch
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(dim, patch, strides=patch, name="patch_embed")(x)
    x = keras.layers.Reshape((grid * grid, dim), name="tokens")(x)
    x = ClassToken(name="cls_pos")(x)
    for i in range(blocks):
        y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm1")(x)
        y = keras.layers.MultiHeadAttention(heads, dim // heads, name=f"block{i}_attn")(y, y)
        x = keras.layers.Add(name=f"block{i}_add1")([x, y])
        y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm2")(x)
        y = keras.layers.Dense(mlp * dim, activation="gelu", name=f"block{i}_mlp1")(y)
        y = keras.layers.Dense(dim, name=f"block{i}_mlp2")(y)
        x = keras.layers.Add(name=f"block{i}_add2")([x, y])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = x[:, 0] if pooling == "class" else keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(classes, activation=activation, name="head")(x)
    return keras.Model(inputs, outputs, name=f"vit_{pooling}")
