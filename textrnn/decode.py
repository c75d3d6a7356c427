"""Decoding in plain NumPy, importable without TensorFlow (the light prediction path)."""

from __future__ import annotations

import numpy as np

PAD_TAG = 0  # tag id 0 pads tag sequences and is never predicted


def viterbi_decode(emissions, transitions, start, end, allowed=None):
    """Best tag sequence for ONE unpadded sequence, in plain NumPy.

    Args:
        emissions: ``(T, K)`` scores of the real tokens only (slice off
            padding first).
        transitions, start, end: as in ``CRF.numpy_weights()``.
        allowed: optional ``(K, K)`` bool; ``allowed[i, j] = False`` forbids
            tag ``j`` right after tag ``i`` (e.g. BIO constraints).  Forbid a
            first/last tag by passing ``-inf`` in ``start``/``end``.  If the
            constraints leave no path, they are ignored rather than failing.

    Returns:
        ``list[int]`` of length T; never the pad tag 0 (its column is -inf).
    """
    e = np.array(emissions, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"emissions must be (T, K), got shape {e.shape}")
    seq_len, num_tags = e.shape
    if seq_len == 0:
        return []
    e[:, PAD_TAG] = -np.inf
    trans = np.asarray(transitions, dtype=np.float64)
    if allowed is not None:
        trans = np.where(np.asarray(allowed, dtype=bool), trans, -np.inf)
    start = np.asarray(start, dtype=np.float64)
    end = np.asarray(end, dtype=np.float64)

    score = start + e[0]
    back = np.zeros((seq_len, num_tags), dtype=np.int64)
    for t in range(1, seq_len):
        cand = score[:, None] + trans  # (from, to)
        back[t] = np.argmax(cand, axis=0)
        score = np.max(cand, axis=0) + e[t]
    score = score + end
    best = int(np.argmax(score))
    if not np.isfinite(score[best]):
        if allowed is not None:
            return viterbi_decode(emissions, transitions, start, end, None)
        raise ValueError("no tag sequence has a finite score")
    path = [best]
    for t in range(seq_len - 1, 0, -1):
        best = int(back[t, best])
        path.append(best)
    path.reverse()
    return path
