import json
import sys

import pytest

from textrnn import bundle, plots
from textrnn.errors import UsageError
from textrnn.metrics import classification_report, joint_report
from textrnn.nn import saving

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
INTENTS = ["book", "cancel", "status"]


def classify_meta(labels=INTENTS, rows=60) -> dict:
    gold = [labels[i % len(labels)] for i in range(rows)]
    pred = [label if i % 4 else labels[0] for i, label in enumerate(gold)]
    return {"task": "classify", "multilabel": False,
            "training": {"best_epoch": 2, "history": {
                "loss": [1.1, 0.6, 0.5], "accuracy": [0.4, 0.7, 0.8],
                "val_score": [0.5, 0.75, 0.7]}},
            "metrics": classification_report(gold, pred)}


def joint_meta() -> dict:
    gold_tags = [["B-city", "I-city", "O", "B-date"], ["O", "B-date", "O", "O"]] * 5
    pred_tags = [["B-city", "O", "O", "B-date"], ["O", "B-date", "O", "B-city"]] * 5
    gold, pred = INTENTS[:2] * 5, ["book"] * 10
    return {"task": "joint", "multilabel": False,
            "training": {"best_epoch": 1, "history": {
                "loss": [3.0, 2.0], "intent_loss": [1.0, 0.8], "tags_loss": [2.0, 1.2],
                "intent_accuracy": [0.5, 0.6], "val_score": [0.4, 0.3]}},
            "metrics": json.loads(json.dumps(joint_report(gold, pred, gold_tags, pred_tags)))}


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000


def test_classification_plots_are_pngs(tmp_path):
    written = plots.write_plots(tmp_path, classify_meta())
    assert [path.name for path in written] == ["training.png", "confusion.png"]
    for path in written:
        assert_png(path)


def test_joint_plots_show_intents_and_slot_f1(tmp_path):
    written = plots.write_plots(tmp_path, joint_meta())  # meta as read back from JSON
    assert [path.name for path in written] == ["training.png", "confusion.png", "slot_f1.png"]
    for path in written:
        assert_png(path)


def test_without_validation_only_the_loss_curve_is_drawn(tmp_path):
    meta = {"task": "tag", "training": {"history": {"loss": [2.0, 1.0]}}, "metrics": {}}
    assert [path.name for path in plots.write_plots(tmp_path, meta)] == ["training.png"]


def test_a_large_confusion_keeps_the_labels_with_most_errors():
    labels = [f"c{i}" for i in range(40)]
    matrix = [[10 if i == j else 0 for j in range(40)] for i in range(40)]
    matrix[35][3] = matrix[7][36] = 5
    shown = plots._most_confused(matrix, 30)
    assert len(shown) == 30 and shown == sorted(shown)
    assert {3, 7, 35, 36} <= set(shown)
    meta = classify_meta(labels, rows=400)
    figure = plots._confusion_figure(meta["metrics"]["confusion"], "label")
    assert "the 30 of 40 labels" in figure.axes[0].get_title()


def test_missing_matplotlib_is_a_usage_error_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(UsageError, match=r"--plot needs matplotlib: pip install 'textrnn\[plot\]'"):
        plots.check_plotting_available()
    with pytest.raises(UsageError, match="needs matplotlib"):
        plots.write_plots(tmp_path, classify_meta())
    assert list(tmp_path.iterdir()) == []


def test_missing_tensorboard_is_a_usage_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(UsageError, match=r"pip install 'textrnn\[tensorboard\]'"):
        plots.tensorboard_callback("logs")


def test_tensorboard_logs_the_epoch_figures_and_val_score(tmp_path):
    pytest.importorskip("tensorboard")
    import keras
    import numpy as np

    class Score(keras.callbacks.Callback):
        """As training's ValidationScore: val_score added to the epoch's logs."""

        def on_epoch_end(self, epoch, logs=None):
            logs["val_score"] = 0.5

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(np.zeros((8, 3)), np.zeros((8, 1)), epochs=2, verbose=0,
              callbacks=[Score(), plots.tensorboard_callback(str(tmp_path / "tb"))])
    for run in ("train", "validation"):  # Keras files val_* under the validation run
        events = list((tmp_path / "tb" / run).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0


def tiny_model():
    import keras

    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def test_save_adds_extra_files_before_the_swap(tmp_path):
    target = tmp_path / "model"
    seen = []

    def extra(folder):
        seen.append(folder)
        assert folder != target and (folder / bundle.META_FILE).exists()
        (folder / "plot.png").write_bytes(b"png")

    saving.save(target, tiny_model(), {"task": "classify"}, extra_files=extra)
    assert (target / "plot.png").read_bytes() == b"png"
    assert not seen[0].exists()


def test_a_failing_extra_files_hook_leaves_the_old_model(tmp_path):
    target = tmp_path / "model"
    model = tiny_model()
    saving.save(target, model, {"task": "old"})

    def broken(folder):
        raise RuntimeError("plotting failed")

    with pytest.raises(RuntimeError, match="plotting failed"):
        saving.save(target, model, {"task": "new"}, extra_files=broken)
    assert json.loads((target / bundle.META_FILE).read_text())["task"] == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["model"]
