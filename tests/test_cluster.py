"""Labelling a Parquet data set on a real Dask cluster (two worker processes) with
`Model.predict_frame`: every row is what `textrnn predict --format jsonl` says of its text."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from conftest import same_records
from dask import dataframe as dd
from dask.distributed import Client, LocalCluster

import textrnn

TEXTRNN = str(Path(sys.executable).parent / "textrnn")


def test_a_two_process_cluster_labels_parquet_as_the_command_line_does(joint_model, slots_csv,
                                                                       tmp_path):
    sentences = pd.read_csv(slots_csv)["text"].tolist()
    texts = [sentences[i % len(sentences)] + ("" if i < len(sentences) else f" {i}")
             for i in range(300)]
    texts[5], texts[77] = "", "   "
    for part in range(4):  # four files, so each worker gets several partitions
        rows = range(part * 75, part * 75 + 75)
        pd.DataFrame({"id": rows, "text": [texts[i] for i in rows]}).to_parquet(
            tmp_path / f"in-{part}.parquet")
    model = textrnn.load(joint_model)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        frame = dd.read_parquet(str(tmp_path / "in-*.parquet"))
        frame.map_partitions(model.predict_frame).to_parquet(str(tmp_path / "out"),
                                                              write_index=False)
        workers = client.run(_worker_state)
    assert len(workers) == 2
    for cached, tensorflow in workers.values():  # each worker loaded the model, without TF
        assert cached == [(str(model.path), model.fingerprint)] and not tensorflow
    rows = sorted(pq.read_table(tmp_path / "out").to_pylist(), key=lambda row: row["id"])
    cli = subprocess.run([TEXTRNN, "predict", "-", "--model", str(joint_model), "--format",
                          "jsonl"], input="".join(t + "\n" for t in texts), capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    records = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [row["id"] for row in rows] == list(range(300)) and len(records) == 300
    assert any(record["slots"] for record in records)
    for row, record in zip(rows, records):
        del row["id"]
        assert row.pop("truncated") == record.pop("truncated", False)
        assert same_records(row, record), (row, record)


def _worker_state():
    from textrnn import api

    return ([(path, model.fingerprint) for (path, _), model in api._cache.items()],
            "tensorflow" in sys.modules)
