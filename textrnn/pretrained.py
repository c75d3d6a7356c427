"""The pretrained directory `textrnn pretrain` writes: `textrnn.json` (format
"textrnn-pretrained": tokenizer settings, the vocabularies, the encoder's settings, corpus
size, perplexity) and `weights.npz`, each layer's weights as plain arrays named
`layer/index` (loaded with allow_pickle=False). Written atomically, like a model directory.

The layers: `embedding` (tied: it is also the language models' output layer), `char_cnn`
and `bigram_embedding` when the encoder has those features, `forward` and `backward` (the
two language models' recurrent layers, which become the two directions of the task's
bidirectional layer), and the LM-only `forward_projection`, `backward_projection`, `output`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textrnn import bundle
from textrnn.errors import BundleError

WEIGHTS_FILE = "weights.npz"
FORMAT_VERSION = 1
_REQUIRED = {"tokenizer": dict, "vocab": list, "model": dict, "corpus": dict}


def save(directory: str | Path, meta: dict, weights: dict[str, list[np.ndarray]]) -> Path:
    """Write a pretrained directory: `meta` and the weights of each named layer."""

    def write(folder: Path) -> dict:
        arrays = {f"{name}/{index}": value for name, values in weights.items()
                  for index, value in enumerate(values)}
        np.savez(folder / WEIGHTS_FILE, **arrays)
        return {}

    meta = {**meta, "format": bundle.PRETRAINED_FORMAT, "format_version": FORMAT_VERSION}
    return bundle.save(directory, meta, write)


def read_meta(directory: str | Path) -> dict:
    """The validated textrnn.json of a pretrained directory."""
    meta = bundle.read_json(directory, "pretrained directory",
                            f"make one with `textrnn pretrain TEXT --out {directory}`")
    path = Path(directory) / bundle.META_FILE
    if meta.get("format") != bundle.PRETRAINED_FORMAT:
        raise BundleError(f"{directory}: a model directory, not a pretrained one (make one with "
                          "`textrnn pretrain TEXT`)" if meta.get("format") == "textrnn"
                          else f"{path}: not a textrnn pretrained directory")
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
        raise BundleError(f"{path}: written by a newer textrnn (or damaged); upgrade textrnn")
    for key, kind in _REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise BundleError(f"{path}: damaged (field '{key}' missing or not a {kind.__name__})")
    return meta


def load(directory: str | Path) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """(meta, weights by layer name) of a pretrained directory."""
    meta = read_meta(directory)
    path = Path(directory) / WEIGHTS_FILE
    weights: dict[str, dict[int, np.ndarray]] = {}
    try:
        with np.load(path, allow_pickle=False) as saved:
            for key in saved.files:
                name, _, index = key.rpartition("/")
                weights.setdefault(name, {})[int(index)] = saved[key]
    except FileNotFoundError:
        raise BundleError(f"{path}: missing") from None
    except (OSError, ValueError, EOFError) as error:  # zip and npy errors of a damaged file
        raise BundleError(f"{path}: damaged ({error})") from None
    ordered = {name: [values[i] for i in sorted(values)] for name, values in weights.items()}
    if "embedding" not in ordered or len(ordered["embedding"][0]) != len(meta["vocab"]):
        raise BundleError(f"{path}: damaged (no embedding for the {len(meta['vocab'])}-word "
                          "vocabulary)")
    return meta, ordered


def train_defaults(meta: dict, encoder: str | None) -> dict:
    """The `textrnn train --pretrained` settings that let the pretrained layers carry over,
    for the options the user left out: the encoder cell and its units, the embedding size,
    the character and bigram features (they change the encoder's input width)."""
    spec = meta["model"]
    defaults = {"encoder": spec["encoder"], "embedding_dim": spec["embedding_dim"],
                "char_features": bool(spec.get("char_features")),
                "bigrams": bool(spec.get("bigrams"))}
    if encoder in (None, spec["encoder"]):
        defaults["units"] = spec["units"]
    return defaults
