"""Training maths of the learned detector's character head (``llmops.guards.learned``):
hashed n-gram rows as a sparse matrix and L2-regularised logistic regression on it, numpy
only. Used by ``llmops.guards.train_detector``; nothing here runs in a chat turn.

The matrix is 2**bits columns wide (65,536 for 16 bits), too wide for the Newton steps the
embedding head uses, so this fits by L-BFGS (Nocedal & Wright, algorithm 7.4) with a
backtracking line search: deterministic, a few seconds for a few thousand texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sparse:
    """Rows of (column index, value) pairs: ``indptr`` delimits row ``i`` in ``cols``/``vals``."""

    indptr: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    width: int

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[np.ndarray, np.ndarray]], width: int) -> Sparse:
        lengths = np.array([len(c) for c, _ in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        cols = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int64)
        vals = np.concatenate([v for _, v in rows]) if rows else np.zeros(0)
        return cls(indptr, cols.astype(np.int64), vals.astype(np.float64), width)

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    def take(self, rows: Sequence[int] | np.ndarray) -> Sparse:
        parts = [
            (
                self.cols[self.indptr[i] : self.indptr[i + 1]],
                self.vals[self.indptr[i] : self.indptr[i + 1]],
            )
            for i in rows
        ]
        return Sparse.from_rows(parts, self.width)

    def _row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(self.n), np.diff(self.indptr))

    def dot(self, w: np.ndarray) -> np.ndarray:
        """``X @ w``."""
        return np.bincount(self._row_ids(), weights=self.vals * w[self.cols], minlength=self.n)

    def tdot(self, r: np.ndarray) -> np.ndarray:
        """``X.T @ r``."""
        return np.bincount(self.cols, weights=self.vals * r[self._row_ids()], minlength=self.width)


def _loss_grad(
    x: Sparse, y: np.ndarray, sw: np.ndarray, l2: float, theta: np.ndarray
) -> tuple[float, np.ndarray]:
    w, b = theta[:-1], theta[-1]
    z = x.dot(w) + b
    # log(1 + exp(-z)) for positives, log(1 + exp(z)) for negatives, computed stably
    loss = float(sw @ np.logaddexp(0.0, np.where(y == 1, -z, z))) + 0.5 * l2 * float(w @ w)
    p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
    r = sw * (p - y)
    grad = np.concatenate([x.tdot(r) + l2 * w, [r.sum()]])
    return loss, grad


def fit_sparse(
    x: Sparse, y: np.ndarray, l2: float = 1.0, iters: int = 300, memory: int = 10
) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularised logistic regression on a sparse matrix (the bias is not
    penalised), by L-BFGS. Deterministic: the same rows give the same weights."""
    n = x.n
    pos = max(1, int(y.sum()))
    sw = np.where(y == 1, n / (2 * pos), n / (2 * max(1, n - pos)))
    theta = np.zeros(x.width + 1)
    loss, grad = _loss_grad(x, y, sw, l2, theta)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    for _ in range(iters):
        # two-loop recursion: the quasi-Newton direction
        q = grad.copy()
        alphas = []
        for s, t in zip(reversed(s_hist), reversed(y_hist), strict=True):
            a = float(s @ q) / float(t @ s)
            alphas.append(a)
            q -= a * t
        if s_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        for (s, t), a in zip(zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True):
            q += s * (a - float(t @ q) / float(t @ s))
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            direction, slope = -grad, -float(grad @ grad)
            s_hist.clear()
            y_hist.clear()
        step = 1.0
        while True:
            new = theta + step * direction
            new_loss, new_grad = _loss_grad(x, y, sw, l2, new)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step /= 2
        s_vec, y_vec = new - theta, new_grad - grad
        if float(s_vec @ y_vec) > 1e-12:
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        converged = abs(loss - new_loss) <= 1e-9 * max(1.0, abs(loss))
        theta, loss, grad = new, new_loss, new_grad
        if converged or float(np.abs(grad).max()) < 1e-6:
            break
    return theta[:-1], float(theta[-1])


def predict_sparse(x: Sparse, w: np.ndarray, b: float) -> np.ndarray:
    """The probabilities of the rows of ``x``."""
    return np.asarray(1 / (1 + np.exp(-np.clip(x.dot(w) + b, -30, 30))))
