"""Shared test data: small, generated with a seed, written to temporary files; the sample
slot model and a real `textrnn serve` process (tests/test_serve.py, tests/test_browser.py)."""

import csv
import fcntl
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SENTENCE = "Arrive Taipei on November 2nd"  # the mission sentence

TOPICS = {
    "weather": ["rain", "sunny", "forecast", "snow", "wind", "cloudy", "storm", "temperature"],
    "music": ["play", "song", "album", "playlist", "jazz", "track", "singer", "guitar"],
    "food": ["restaurant", "table", "dinner", "pizza", "menu", "lunch", "sushi", "reserve"],
}
FILLER = ["please", "the", "a", "now", "today", "for", "me", "some", "what", "is", "can", "you"]


def topic_rows(n: int, seed: int, topics: dict = TOPICS, filler: list = FILLER,
               sep: str = " ", max_filler: int = 5) -> list[tuple[str, str]]:
    """Sentences whose label is given by their topic words, mixed with shared filler words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = sorted(topics)[i % len(topics)]
        words = rng.sample(topics[label], 2) + rng.sample(filler, rng.randint(1, max_filler))
        rng.shuffle(words)
        rows.append((sep.join(words), label))
    return rows


def write_csv(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


ZH_TOPICS = {
    "sports": ["足球", "篮球", "比赛", "球员", "冠军", "教练"],
    "finance": ["股票", "银行", "基金", "投资", "市场", "利率"],
    "tech": ["手机", "电脑", "芯片", "软件", "网络", "数据"],
}
ZH_FILLER = ["今天", "我们", "这个", "一个", "大家", "怎么", "看待", "新闻", "的", "了"]


def zh_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """Chinese titles (no spaces) whose label is given by their topic words."""
    return topic_rows(n, seed, ZH_TOPICS, ZH_FILLER, sep="", max_filler=4)


@pytest.fixture(scope="session")
def topics_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("data") / "topics.csv", ["text", "label"],
                     topic_rows(150, seed=1))


@pytest.fixture(scope="session")
def topics_test_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("data") / "topics_test.csv", ["text", "label"],
                     topic_rows(60, seed=2))


@pytest.fixture(scope="session")
def slots_csv() -> Path:
    return SAMPLE / "flights_slots.csv"


# `make test` runs two workers (`pytest -n 2 --dist loadfile`), each given whole files in
# collection order: the slowest files go first, so that both workers end together instead of
# one running a slow file alone at the end.
# test_readme.py builds the sample model the later files share. The list is by the files'
# times in a whole run; the files not in it take under 15 s each.
SLOWEST_FIRST = ["test_readme.py", "test_unseen.py", "test_interrupts.py", "test_pretrain.py",
                 "test_cli.py", "test_distributed.py", "test_shards.py", "test_robustness.py",
                 "test_formats.py", "test_engine_numpy.py", "test_autotune.py", "test_api.py",
                 "test_defaults.py", "test_bigrams.py", "test_quiet.py", "test_layout.py"]


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order


TINY = ["--epochs", "4", "--units", "16", "--embedding-dim", "16", "--quiet"]


def wait_for_file(process, path: Path, seconds: float = 300) -> None:
    """Wait until `process` (still running) has written `path`, e.g. its first checkpoint
    (TensorFlow's start and first epoch took over 120 s on a loaded 2-core machine)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {path.name} within {seconds} s"
        time.sleep(0.2)
    time.sleep(0.5)


HEAVY = {"tensorflow", "keras", "pandas", "sklearn", "matplotlib", "pydantic"}


def fresh_cli(*args) -> SimpleNamespace:
    """Run the CLI in a fresh interpreter: its exit `code`, `stdout`, `stderr`, and which of
    TensorFlow, Keras, pandas, scikit-learn, matplotlib and pydantic it imported (`heavy`)."""
    code = ("import sys, runpy\n"
            f"sys.argv = ['textrnn', *{[str(a) for a in args]!r}]\n"
            "try:\n    runpy.run_module('textrnn', run_name='__main__')\n"
            "except SystemExit as done:\n    code = done.code\n"
            "else:\n    code = 0\n"
            f"print(code or 0, sorted({HEAVY!r} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    *output, last = done.stdout.strip().splitlines()
    exit_code, modules = last.split(" ", 1)
    return SimpleNamespace(code=int(exit_code), stdout="\n".join(output), stderr=done.stderr,
                           heavy=json.loads(modules.replace("'", '"')))


def same_records(mine, theirs, tolerance: float = 1e-5) -> bool:
    """Prediction records equal in everything but the last digits of their probabilities
    (a batch of another size or padding sums in another order)."""
    if isinstance(mine, float) or isinstance(theirs, float):
        return (isinstance(mine, (int, float)) and isinstance(theirs, (int, float))
                and abs(mine - theirs) <= tolerance)
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return mine.keys() == theirs.keys() and all(
            same_records(mine[key], theirs[key], tolerance) for key in mine)
    if isinstance(mine, (list, tuple)) and isinstance(theirs, (list, tuple)):
        return len(mine) == len(theirs) and all(
            same_records(a, b, tolerance) for a, b in zip(mine, theirs))
    return mine == theirs


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder `build(folder)` fills once per test run: the workers of `pytest -n` share
    it (the first to ask builds it, the others wait for it) instead of each training its own."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    out, done = base / name, base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)  # what a failed build left
            out.mkdir()
            build(out)
            done.touch()
    return out


@pytest.fixture(scope="session")
def joint_model(tmp_path_factory, slots_csv) -> Path:
    """A small intent + slot model trained through the Python API (it finds the slots of the
    flight sentences), shared by the API and cluster tests."""
    import textrnn

    return built_once(tmp_path_factory, "joint-model", lambda folder: textrnn.train(
        slots_csv, folder / "flights", epochs=10, units=16, embedding_dim=16, lr=0.01)) / "flights"


@pytest.fixture(scope="session")
def sample_model(tmp_path_factory) -> Path:
    """The README's model: `textrnn train sample_data/flights_slots.csv`, default settings."""
    from typer.testing import CliRunner

    from textrnn.cli import app

    def train(folder: Path) -> None:
        result = CliRunner().invoke(app, ["train", str(SAMPLE / "flights_slots.csv"), "--out",
                                          str(folder / "flights"), "--quiet"])
        assert result.exit_code == 0, result.output

    return built_once(tmp_path_factory, "sample-model", train) / "flights"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(model: Path, *options: str):
    """A `textrnn serve` process on a free loopback port: (base URL, process). Its output goes
    to a file (a pipe nobody reads could fill and stop it), shown when the server fails."""
    import httpx

    port = free_port()
    output = model.parent / f"serve-{port}.log"
    with open(output, "w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "textrnn", "serve", "--model", str(model), "--port", str(port),
             *options], stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "the server did not become ready in 60 s"
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        print(output.read_text())  # pytest shows it for a failed test
