"""The model factory: embedding -> encoder -> head(s), built from a plain `ModelSpec`.

The encoder registry is data, so adding an encoder is one entry. Keras is imported inside the
builders: the registry itself is needed by the CLI before any model exists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from textrnn.errors import UsageError

TASKS = ("classify", "tag", "joint")


@dataclass(frozen=True)
class EncoderInfo:
    description: str
    units: int  # default width: hidden units, or filters per width for the CNN
    recurrent: bool = True
    # How the classification head summarises the sequence; "root": the encoder already gives
    # one vector per sentence.
    pooling: str = "mean"
    tags: bool = True  # can label every token (slot filling)


ENCODERS: dict[str, EncoderInfo] = {
    "lstm": EncoderInfo("long short-term memory", 128),
    "gru": EncoderInfo("gated recurrent unit", 128),
    "rnn": EncoderInfo("Elman network (SimpleRNN): the hidden state is the memory", 128),
    "jordan": EncoderInfo("Jordan network: the previous output is the memory", 128),
    "cnn": EncoderInfo("Kim-style CNN: parallel convolutions of widths 3/4/5", 100,
                       recurrent=False, pooling="max"),
    "tree": EncoderInfo("recursive network over a balanced binary tree: one shared layer "
                        "composes adjacent nodes, level by level, up to the root", 128,
                        recurrent=False, pooling="root", tags=False),
}


def encoders_for(task: str) -> list[str]:
    """The encoders that can be trained for `task`: all of them classify, not all tag."""
    return [name for name, info in ENCODERS.items() if task == "classify" or info.tags]


@dataclass
class ModelSpec:
    task: str
    vocab_size: int
    num_labels: int = 0
    num_tags: int = 0  # tag id 0 is padding, so this counts it
    multilabel: bool = False
    encoder: str = "lstm"
    bidirectional: bool = True
    layers: int = 1
    units: int = 128
    embedding_dim: int = 128
    dropout: float = 0.3
    crf: bool = False
    freeze_embeddings: bool = False
    char_features: bool = False
    num_chars: int = 0  # character vocabulary size, with padding and unknown
    # A vector per token for the bigram it starts (see text.bigrams). None until training
    # decides from the data: on for mostly-CJK text (training.BIGRAM_CJK_SHARE).
    bigrams: bool | None = None
    num_bigrams: int = 0  # bigram vocabulary size, with padding and unknown
    bigram_dim: int = 64
    bigram_dropout: float = 0.0  # whole bigram vectors dropped in training
    # Joint models: an intent distribution at every token (trained against the sentence's
    # intent), their mean over the real tokens is the sentence's, and each token's is fed to
    # the tag head (Stack-Propagation, Qin et al. 2019).
    token_intent: bool = False
    # Per-token features of the lookup lists (2 per list: begins, continues a match); the
    # 'lookup' input, joined to each token's vector before the encoder.
    lookup_features: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def jordan_tagger(self) -> bool:
        """Tag data with the Jordan encoder: the previous *tag distribution* is the memory."""
        return self.encoder == "jordan" and self.task in ("tag", "joint")


def check_spec(spec: ModelSpec) -> None:
    """Raise UsageError for combinations that do not make sense, before any training."""
    if spec.task not in TASKS:
        raise UsageError(f"unknown task '{spec.task}' (choose from {', '.join(TASKS)})")
    if spec.encoder not in ENCODERS:
        raise UsageError(f"unknown encoder '{spec.encoder}' (choose from {', '.join(ENCODERS)})")
    # An embedding size of 0 stands for "the word-vector file's" until training sets it.
    if spec.layers < 1 or spec.units < 1 or spec.embedding_dim < 0:
        raise UsageError("--layers, --units and --embedding-dim must be positive")
    if not 0 <= spec.dropout < 1 or not 0 <= spec.bigram_dropout < 1:
        raise UsageError("--dropout and --bigram-dropout must be in [0, 1)")
    if spec.bigram_dim < 1:
        raise UsageError("the bigram embedding size must be positive")
    if not ENCODERS[spec.encoder].tags and spec.task != "classify":
        raise UsageError(f"the {spec.encoder} encoder builds one vector per sentence: it "
                         "classifies, it does not tag (choose another --encoder, or --task "
                         "classify)")
    if spec.encoder == "tree" and spec.layers > 1:
        raise UsageError("the tree encoder is one recursive layer: drop --layers")
    if spec.bidirectional and not ENCODERS[spec.encoder].recurrent:
        raise UsageError(f"--bidirectional does not apply to the '{spec.encoder}' encoder")
    if spec.jordan_tagger and (spec.bidirectional or spec.layers > 1 or spec.crf):
        raise UsageError("the Jordan tagger runs left to right over one layer: drop "
                         "--bidirectional, --layers and --crf")
    if spec.crf and spec.task == "classify":
        raise UsageError("--crf needs tag data (slot filling)")
    if spec.token_intent and (spec.task != "joint" or spec.multilabel or spec.jordan_tagger):
        raise UsageError("--token-intent is for joint intent + slot models with one intent per "
                         "sentence (and an encoder under the tagger: not the Jordan tagger)")


def embedded(spec: ModelSpec):
    """The model's inputs ('tokens'; 'chars', 'bigrams' and 'lookup' when those features are on)
    and each token's vector: the word embedding, extended with the character, bigram and
    lookup-list features.
    The task models and the language models of `textrnn pretrain` share this part."""
    import keras
    from keras import layers

    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    inputs = [tokens]
    x = layers.Embedding(spec.vocab_size, spec.embedding_dim, mask_zero=True,
                         trainable=not spec.freeze_embeddings, name="embedding")(tokens)
    if spec.char_features:
        from textrnn.nn.layers import CharCNN

        chars = keras.Input(shape=(None, None), dtype="int32", name="chars")
        inputs.append(chars)
        x = CharCNN(spec.num_chars, name="char_cnn")([x, chars])
    if spec.bigrams:
        from textrnn.nn.layers import BigramEmbedding

        bigrams = keras.Input(shape=(None,), dtype="int32", name="bigrams")
        inputs.append(bigrams)
        x = BigramEmbedding(spec.num_bigrams, spec.bigram_dim, spec.bigram_dropout,
                            name="bigram_embedding")([x, bigrams])
    if spec.lookup_features:
        from textrnn.nn.layers import ConcatSequence

        # Last, so that a pretrained encoder's input weights stay the first rows of the kernel.
        lookup = keras.Input(shape=(None, spec.lookup_features), dtype="float32", name="lookup")
        inputs.append(lookup)
        x = ConcatSequence(name="lookup_features")([x, lookup])
    return inputs, x


def build_model(spec: ModelSpec):
    """A Keras functional model with named inputs ('tokens'; 'chars' and 'bigrams' when those
    features are on; 'prev_tags' for the Jordan tagger) and named outputs ('label' for
    classification, 'tags', and 'intent' when joint)."""
    import keras
    from keras import layers

    check_spec(spec)
    inputs, x = embedded(spec)
    outputs = {}
    if spec.jordan_tagger:
        from textrnn.nn.jordan import JordanTagger

        prev_tags = keras.Input(shape=(None,), dtype="int32", name="prev_tags")
        inputs.append(prev_tags)
        probs, sequence = JordanTagger(spec.units, spec.num_tags, name="jordan")(
            [layers.Dropout(spec.dropout)(x), prev_tags])
        outputs["tags"] = layers.Identity(name="tags")(probs)
    else:
        sequence = _encoder(spec, x)
        if spec.token_intent:
            outputs.update(_token_intent_heads(spec, layers.Dropout(spec.dropout)(sequence)))
        elif spec.task in ("tag", "joint"):
            outputs["tags"] = _tag_head(spec, layers.Dropout(spec.dropout)(sequence))
    if spec.task in ("classify", "joint") and "intent" not in outputs:
        outputs["label" if spec.task == "classify" else "intent"] = _sentence_head(spec, sequence)
    return keras.Model(inputs, outputs, name=f"textrnn_{spec.encoder}_{spec.task}")


def _token_intent_heads(spec: ModelSpec, sequence) -> dict:
    """'token_intent' (an intent distribution per token, the trained output), 'intent' (their
    mean over the real tokens) and 'tags' (the tag head reads each token's state and intent)."""
    from keras import layers

    from textrnn.nn.layers import ConcatSequence

    token_intent = layers.Dense(spec.num_labels, activation="softmax",
                                name="token_intent")(sequence)
    # Keras' average pooling honours the mask: a mean over the real tokens.
    intent = layers.GlobalAveragePooling1D(name="intent")(token_intent)
    tag_input = ConcatSequence(name="tag_input")([sequence, token_intent])
    return {"token_intent": token_intent, "intent": intent, "tags": _tag_head(spec, tag_input)}


def recurrent_layer(encoder: str, units: int, name: str):
    from keras import layers

    if encoder == "jordan":
        from textrnn.nn.jordan import JordanCell

        return layers.RNN(JordanCell(units), return_sequences=True, name=name)
    layer = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}[encoder]
    return layer(units, return_sequences=True, name=name)


def _encoder(spec: ModelSpec, x):
    from keras import layers

    from textrnn.nn.layers import KimConv

    if spec.encoder == "tree":
        from textrnn.nn.tree import TreeEncoder

        return TreeEncoder(spec.units, name="tree")(x)
    for index in range(spec.layers):
        if index:
            x = layers.Dropout(spec.dropout)(x)
        if spec.encoder == "cnn":
            x = KimConv(spec.units, name=f"cnn_{index + 1}")(x)
            continue
        layer = recurrent_layer(spec.encoder, spec.units, f"{spec.encoder}_{index + 1}")
        if spec.bidirectional:
            layer = layers.Bidirectional(layer, name=f"bi{spec.encoder}_{index + 1}")
        x = layer(x)
    return x


def _sentence_head(spec: ModelSpec, sequence):
    from keras import layers

    from textrnn.nn.layers import MaskedGlobalMaxPooling1D

    pooling = ENCODERS[spec.encoder].pooling
    if pooling == "root":  # the tree's root is already the sentence vector
        pooled = sequence
    elif pooling == "max":
        pooled = MaskedGlobalMaxPooling1D(name="max_pool")(sequence)
    else:
        # Keras' average pooling honours the embedding mask: a mean over the real tokens.
        pooled = layers.GlobalAveragePooling1D(name="mean_pool")(sequence)
    pooled = layers.Dropout(spec.dropout)(pooled)
    name = "label" if spec.task == "classify" else "intent"
    activation = "sigmoid" if spec.multilabel else "softmax"
    return layers.Dense(spec.num_labels, activation=activation, name=name)(pooled)


def _tag_head(spec: ModelSpec, sequence):
    from keras import layers

    if spec.crf:
        from textrnn.nn.crf import CRF

        scores = layers.Dense(spec.num_tags, name="emissions")(sequence)
        return CRF(spec.num_tags, name="tags")(scores)
    # A plain Dense applies per position; TimeDistributed(Dense) trains 2x slower here.
    return layers.Dense(spec.num_tags, activation="softmax", name="tags")(sequence)


def textbook_params(layer) -> tuple[int, str] | None:
    """The parameter count of a recurrent (or the recursive) layer by the textbook formula,
    and the formula."""
    from keras import layers

    from textrnn.nn.tree import TreeEncoder

    if isinstance(layer, TreeEncoder):  # leaf projection V (x -> h), composition W (2h -> h)
        h, x = layer.units, layer.leaf_kernel.shape[0]
        return h * (x + 1) + h * (2 * h + 1), f"h(x+1) + h(2h+1), h={h}, x={x}"
    if isinstance(layer, layers.Bidirectional):
        inner = textbook_params(layer.forward_layer)
        return (2 * inner[0], f"2 x [{inner[1]}]") if inner else None
    kinds = {layers.SimpleRNN: (1, "h(h+x)+h"), layers.LSTM: (4, "4[h(h+x)+h]"),
             layers.GRU: (3, "3[h(h+x)+h] + 3h")}
    for kind, (gates, formula) in kinds.items():
        if isinstance(layer, kind):
            h, x = layer.units, layer.cell.kernel.shape[0]
            count = gates * (h * (h + x) + h)
            if kind is layers.GRU and layer.cell.reset_after:
                count += 3 * h
            return count, f"{formula}, h={h}, x={x}"
    return None


def layer_table(model) -> list[dict]:
    """One row per layer with weights: name, type, output shape, parameters, textbook formula."""
    rows = []
    for layer in model.layers:
        params = layer.count_params() if layer.built else 0
        if not params:
            continue
        textbook = textbook_params(layer)
        rows.append({
            "name": layer.name,
            "type": type(layer).__name__,
            "params": int(params),
            "formula": textbook[1] if textbook else "",
            "formula_params": textbook[0] if textbook else None,
        })
    return rows
