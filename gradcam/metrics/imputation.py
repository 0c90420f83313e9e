"""Noisy linear imputation, ROAD's way of removing pixels (Rong et al., "A Consistent and Efficient
Evaluation Strategy for Attribution Methods", ICML 2022, Sec. 4 and their reference code).

Each removed pixel takes the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones,
1/12 for the diagonals), removed neighbours included, so all removed pixels are solved together:
for removed pixel p with in-image neighbours q,

    sum_q w_pq * (x_p - x_q) = 0                                      (ROAD eq. 4)

which is a sparse linear system A x_removed = b, with the kept neighbours' values on the right.
Then Gaussian noise is added to the imputed pixels, so that the removal leaves no trace a model
could read (the "debiasing" of Remove-And-Debias).

With SciPy the system is solved exactly (scipy.sparse.linalg.spsolve). Without SciPy it is
approximated by Jacobi iterations started from the kept pixels' mean, stopped when no value moves
by more than 0.05 grey levels or after ``MAX_ITERATIONS`` sweeps (an approximation: large holes
converge slowly, and their centre then stays nearer the mean).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..errors import MetricError

#: SciPy is optional (the engine does not depend on it); imported on first use.
HAVE_SCIPY = importlib.util.find_spec("scipy") is not None
MAX_ITERATIONS = 2000

# (dy, dx) -> weight, as in the ROAD reference implementation.
_NEIGHBOURS = (
    ((-1, -1), 1 / 12),
    ((-1, 0), 1 / 6),
    ((-1, 1), 1 / 12),
    ((0, -1), 1 / 6),
    ((0, 1), 1 / 6),
    ((1, -1), 1 / 12),
    ((1, 0), 1 / 6),
    ((1, 1), 1 / 12),
)


def noisy_linear_imputation(image: np.ndarray, removed: np.ndarray, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """``image`` (h, w, C) uint8 with the pixels where ``removed`` (h, w) bool is True imputed.

    Args:
        noise: standard deviation of the added Gaussian noise, as a fraction of the 0-255 range
            (default 0.01, i.e. 2.55 grey levels). ROAD adds 0.01 in the normalised input space of
            its ImageNet models (about 0.6 grey levels); the range-based unit here does not depend
            on a model's preprocessing.
        seed: the noise's seed.

    Returns:
        uint8 (h, w, C); kept pixels are unchanged.
    """
    image = np.asarray(image)
    removed = np.asarray(removed, bool)
    h, w = removed.shape
    if image.shape[:2] != (h, w):
        raise MetricError(f"The mask {removed.shape} does not match the image {image.shape[:2]}.")
    out = image.astype(np.float64).reshape(h * w, -1)
    unknown = np.flatnonzero(removed.reshape(-1))
    if unknown.size == 0:
        return image.copy()
    if unknown.size == h * w:
        raise MetricError("Every pixel is removed: imputation needs at least one kept pixel.")
    if HAVE_SCIPY:
        values = _solve_sparse(out, removed, unknown, h, w)
    else:
        values = _solve_jacobi(out, removed, unknown, h, w)
    if noise:
        values = values + np.random.default_rng(seed).normal(0.0, float(noise) * 255.0, values.shape)
    out[unknown] = values
    return np.clip(np.round(out), 0, 255).astype(np.uint8).reshape(image.shape)


def _neighbour_pairs(unknown: np.ndarray, h: int, w: int):
    """For each offset: (rows into ``unknown``, flat index of the neighbour, weight) for the
    removed pixels whose neighbour at that offset lies in the image."""
    ys, xs = np.divmod(unknown, w)
    for (dy, dx), weight in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        yield np.flatnonzero(inside), ny[inside] * w + nx[inside], weight


def _solve_sparse(pixels, removed, unknown, h, w):
    import scipy.sparse as _sparse
    import scipy.sparse.linalg as _sparse_linalg

    n = unknown.size
    position = np.full(h * w, -1, np.int64)
    position[unknown] = np.arange(n)
    rows, cols, data = [], [], []
    diagonal = np.zeros(n)
    rhs = np.zeros((n, pixels.shape[1]))
    for row, neighbour, weight in _neighbour_pairs(unknown, h, w):
        diagonal[row] += weight  # w_pq * x_p
        column = position[neighbour]
        free = column >= 0
        rows.append(row[free])
        cols.append(column[free])
        data.append(np.full(int(free.sum()), -weight))  # - w_pq * x_q, q removed
        np.add.at(rhs, row[~free], weight * pixels[neighbour[~free]])  # + w_pq * x_q, q kept
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    data.append(diagonal)
    matrix = _sparse.csc_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    solution = _sparse_linalg.spsolve(matrix, rhs)
    return np.asarray(solution).reshape(n, -1)


def _solve_jacobi(pixels, removed, unknown, h, w):
    values = np.tile(pixels[~removed.reshape(-1)].mean(axis=0), (unknown.size, 1))
    pairs = list(_neighbour_pairs(unknown, h, w))
    total = np.zeros(unknown.size)
    for row, _, weight in pairs:
        total[row] += weight
    field = pixels.copy()
    for _ in range(MAX_ITERATIONS):
        field[unknown] = values
        update = np.zeros_like(values)
        for row, neighbour, weight in pairs:
            update[row] += weight * field[neighbour]
        update /= total[:, None]
        moved = np.abs(update - values).max()
        values = update
        if moved < 0.05:
            break
    return values
