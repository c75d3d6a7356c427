"""Multi-worker training: two real worker processes on 127.0.0.1, and the cluster options."""

import contextlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import topic_rows, write_csv

from textrnn.errors import UsageError
from textrnn.train.distributed import Cluster, cluster_from

TEXTRNN = [str(Path(sys.executable).parent / "textrnn")]
OPTIONS = ["--epochs", "3", "--units", "16", "--embedding-dim", "16", "--quiet", "--json"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_worker(data, out, workers: str, index: int, *extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    return subprocess.Popen([*TEXTRNN, "train", str(data), "--out", str(out), "--workers",
                             workers, "--worker-index", str(index), *OPTIONS, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@contextlib.contextmanager
def killed_at_exit(processes):
    """A worker blocked in TensorFlow ignores SIGTERM: never leave one behind a failed test."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("shards", [1, 2], ids=["one file in memory", "two streamed shards"])
def test_two_workers_end_with_identical_weights_and_the_chief_writes_the_model(tmp_path, shards):
    for part in range(shards):
        write_csv(tmp_path / f"part-{part}.csv", ["text", "label"],
                  topic_rows(120, seed=20 + part))
    data = tmp_path / "part-0.csv" if shards == 1 else tmp_path / "part-*.csv"
    workers = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
    processes = [start_worker(data, tmp_path / f"out{i}", workers, i, "--worker-timeout", "120")
                 for i in (1, 0)]
    outputs = []
    with killed_at_exit(processes):
        for process in processes:
            stdout, stderr = process.communicate(timeout=240)
            assert process.returncode == 0, stderr
            outputs.append(json.loads(stdout)["training"])
    worker1, chief = outputs
    assert chief["workers"] == worker1["workers"] == 2
    assert chief["weights_sha256"] == worker1["weights_sha256"]
    assert chief["history"]["loss"] == worker1["history"]["loss"]
    assert chief["history"]["loss"][-1] < chief["history"]["loss"][0]
    assert not (tmp_path / "out1").exists()  # only the chief writes
    predicted = subprocess.run([*TEXTRNN, "predict", "rain and snow forecast", "--model",
                                str(tmp_path / "out0"), "--format", "label"],
                               capture_output=True, text=True, timeout=60)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.strip() in {"weather", "music", "food"}


def test_a_worker_that_never_joins_fails_the_others_with_a_clear_message(tmp_path, topics_csv):
    workers = ",".join(f"127.0.0.1:{port}" for port in free_ports(2))
    process = start_worker(topics_csv, tmp_path / "out", workers, 0, "--worker-timeout", "5")
    with killed_at_exit([process]):
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "not every worker joined within 5 s" in stderr and workers.split(",")[1] in stderr
    assert not (tmp_path / "out").exists()


def test_workers_option_parsing():
    assert cluster_from("a:1,b:2", 1) == Cluster(["a:1", "b:2"], 1)
    assert cluster_from("a:1", 0) is None  # one worker: plain training
    for workers, index in (("a:1,b:2", None), ("a:1,b:2", 2), ("a:1,b", 0), ("a:1,a:1", 0)):
        with pytest.raises(UsageError):
            cluster_from(workers, index)
    with pytest.raises(UsageError, match="needs --workers"):
        cluster_from(None, 1)


def test_tf_config_describes_the_cluster_when_no_option_does(monkeypatch):
    config = {"cluster": {"worker": ["h1:5000", "h2:5000"]}, "task": {"type": "worker",
                                                                     "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert cluster_from(None, None) == Cluster(["h1:5000", "h2:5000"], 1)
    config["cluster"]["ps"] = ["h3:5000"]
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    with pytest.raises(UsageError, match="workers only"):
        cluster_from(None, None)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UsageError, match="TF_CONFIG"):
        cluster_from(None, None)
    monkeypatch.delenv("TF_CONFIG")
    assert cluster_from(None, None) is None
