"""Decoding in plain NumPy, importable without TensorFlow (the light prediction path)."""

from __future__ import annotations

import numpy as np

from textrnn.text import PAD_TAG


def viterbi_decode(emissions, transitions, start, end, allowed=None):
    """Best tag sequence for ONE unpadded sequence: `viterbi_batch` on a batch of one."""
    emissions = np.asarray(emissions)
    if emissions.ndim != 2:
        raise ValueError(f"emissions must be (T, K), got shape {emissions.shape}")
    return viterbi_batch(emissions[None], [len(emissions)], transitions, start, end, allowed)[0]


def viterbi_batch(emissions, lengths, transitions, start, end, allowed=None) -> list[list[int]]:
    """Best tag sequences of a right-padded batch, in plain NumPy, all rows at once.

    Args:
        emissions: ``(B, T, K)`` scores; row b is real up to ``lengths[b]``.
        transitions, start, end: as in ``CRF.numpy_weights()`` (``transitions[i, j]`` scores
            tag j after tag i).
        allowed: optional ``(K, K)`` bool; ``allowed[i, j] = False`` forbids tag j right after
            tag i (e.g. BIO constraints). Rows the constraints leave without any path are
            decoded without them rather than failing.

    Returns:
        One ``list[int]`` per row, of its length; never the pad tag 0.
    """
    # The forward pass keeps only each step's best scores: (from, B, to) candidates reduce over
    # their first axis with whole (B, to) slabs at a time, which NumPy vectorises (an argmax over
    # a short last axis runs row by row). The way back recomputes one (B, from) argmax a step,
    # over the same float32 sums, so it picks the same (first) best tag.
    e = np.array(emissions, dtype=np.float32)
    lengths = np.asarray(lengths, dtype=np.int64)
    batch, steps, num_tags = e.shape
    if steps == 0:
        return [[] for _ in range(batch)]
    e[:, :, PAD_TAG] = -np.inf
    trans = np.asarray(transitions, dtype=np.float32)
    if allowed is not None:
        trans = np.where(np.asarray(allowed, dtype=bool), trans, np.float32(-np.inf))
    scores = np.empty((steps, batch, num_tags), np.float32)  # best score ending at each tag
    scores[0] = np.asarray(start, dtype=np.float32) + e[:, 0]
    candidates = np.empty((num_tags, batch, num_tags), np.float32)
    for t in range(1, steps):
        np.add(scores[t - 1].T[:, :, None], trans[:, None, :], out=candidates)
        reached = candidates.max(axis=0)
        reached += e[:, t]
        live = (t < lengths)[:, None]  # rows already ended keep their scores
        np.copyto(scores[t], np.where(live, reached, scores[t - 1]))
    final = scores[-1] + np.asarray(end, dtype=np.float32)
    current = final.argmax(axis=1)
    finite = np.isfinite(final[np.arange(batch), current])
    path = np.zeros((batch, steps), np.int64)
    path[np.arange(batch), np.maximum(lengths - 1, 0)] = current
    into = np.ascontiguousarray(trans.T)  # [to, from]
    for t in range(steps - 1, 0, -1):
        inside = t < lengths
        current = np.where(inside, (scores[t - 1] + into[current]).argmax(axis=1), current)
        path[:, t - 1] = np.where(inside, current, path[:, t - 1])
    paths = []
    for row, length in enumerate(lengths.tolist()):
        if length and not finite[row]:
            if allowed is None:
                raise ValueError("no tag sequence has a finite score")
            paths.append(viterbi_decode(emissions[row, :length], transitions, start, end))
        else:
            paths.append(path[row, :length].tolist())
    return paths


def crf_marginals(emissions, transitions, start, end) -> np.ndarray:
    """``(T, K)`` probability of each tag at each step of ONE unpadded sequence under the CRF:
    forward-backward with every step rescaled to sum 1 (matrix products, no log-sum-exp);
    the pad tag gets 0."""
    e = np.array(emissions, dtype=np.float64)
    e[:, PAD_TAG] = -np.inf
    emit = np.exp(e - e.max(axis=1, keepdims=True))
    trans = np.asarray(transitions, dtype=np.float64)
    step = np.exp(trans - trans.max())
    steps = len(e)
    alpha, beta = np.empty_like(emit), np.empty_like(emit)
    alpha[0] = _unit(_exp_shifted(start) * emit[0])
    for t in range(1, steps):
        alpha[t] = _unit((alpha[t - 1] @ step) * emit[t])
    beta[-1] = _unit(_exp_shifted(end))
    for t in range(steps - 2, -1, -1):
        beta[t] = _unit(step @ (emit[t + 1] * beta[t + 1]))
    joint = alpha * beta
    return joint / joint.sum(axis=1, keepdims=True)


def _exp_shifted(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    return np.exp(scores - scores.max())


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / vector.sum()
