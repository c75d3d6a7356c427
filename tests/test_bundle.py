import json
import shutil

import keras
import pytest
from conftest import TINY
from typer.testing import CliRunner

from textrnn import bundle
from textrnn.cli import app
from textrnn.errors import BundleError
from textrnn.nn import saving


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, topics_csv):
    out = tmp_path_factory.mktemp("bundle") / "model"
    result = CliRunner().invoke(app, ["train", str(topics_csv), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out


def copy(model_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(model_dir, target)
    return target


def test_a_lambda_layer_is_refused_before_loading(model_dir, tmp_path):
    target = copy(model_dir, tmp_path)
    inputs = keras.Input((3,))
    crafted = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    crafted.save(target / "model.keras")
    with pytest.raises(BundleError, match="Lambda layer; refusing"):
        saving.load(target)


def test_a_newer_format_version_is_refused(model_dir, tmp_path):
    target = copy(model_dir, tmp_path)
    meta = json.loads((target / "textrnn.json").read_text())
    meta["format_version"] = 99
    (target / "textrnn.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="newer textrnn"):
        bundle.read_meta(target)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "textrnn.json").write_text("{not json"), "damaged"),
    (lambda d: (d / "textrnn.json").write_text('{"format": "textrnn"}'), r"damaged \(field"),
    (lambda d: (d / "textrnn.json").unlink(), "textrnn.json missing"),
    (lambda d: (d / "model.keras").write_bytes(b"garbage"), "not a Keras model archive"),
    (lambda d: (d / "model.keras").unlink(), "missing"),
])
def test_damaged_directories_give_one_clear_error(model_dir, tmp_path, damage, message):
    target = copy(model_dir, tmp_path)
    damage(target)
    with pytest.raises(BundleError, match=message):
        saving.load(target)


def test_save_replaces_atomically_and_refuses_foreign_directories(model_dir, tmp_path):
    model, meta = saving.load(model_dir)
    target = copy(model_dir, tmp_path)
    meta["data"]["rows"] = -1
    saving.save(target, model, meta)
    assert bundle.read_meta(target)["data"]["rows"] == -1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]  # no leftovers
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"x")
    with pytest.raises(BundleError, match="not a textrnn directory"):
        saving.save(foreign, model, meta)
    assert [p.name for p in foreign.iterdir()] == ["cat.jpg"]
