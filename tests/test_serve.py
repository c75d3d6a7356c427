"""`textrnn serve` as a client sees it: a real uvicorn process on a free loopback port, httpx
clients. Every load loop is bounded in requests and in time."""

import asyncio
import json
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import SAMPLE, SENTENCE, serving
from typer.testing import CliRunner

from textrnn import bundle
from textrnn.cli import app

runner = CliRunner()
TIMEOUT = httpx.Timeout(30.0)


@pytest.fixture(scope="session")
def texts() -> list[str]:
    lines = (SAMPLE / "flights_slots.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [SENTENCE, "", "  ", "fly to 台北 tomorrow", "word " * 300,
            *(line.split(",")[0] for line in lines[:120])]


@pytest.fixture(scope="session")
def batch_predict(sample_model, texts) -> dict[str, dict]:
    """What `textrnn predict --format jsonl` says for each text."""
    result = runner.invoke(app, ["predict", "-", "--model", str(sample_model), "--format",
                                 "jsonl"], input="\n".join(texts) + "\n")
    assert result.exit_code == 0, result.output
    return {text: json.loads(line) for text, line in zip(texts, result.stdout.splitlines())}


@pytest.fixture(scope="module")
def server(sample_model):
    with serving(sample_model) as (url, _):
        yield url


def run_clients(url: str, bodies: list[tuple[str, dict]], clients: int,
                stop=lambda: False) -> list:
    """Send every (path, body) from `clients` concurrent connections, or until `stop()`; the
    responses (or exceptions) in order, None for those not sent."""

    async def main():
        queue = list(enumerate(bodies))[::-1]
        answers: list = [None] * len(bodies)
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits) as client:
            async def worker():
                while queue and not stop():
                    index, (path, body) = queue.pop()
                    try:
                        answers[index] = await client.post(path, json=body)
                    except httpx.HTTPError as error:
                        answers[index] = error
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(clients))), 120)
        return answers

    return asyncio.run(main())


def test_every_endpoint_answers_in_its_shape(server, sample_model):
    parse = httpx.post(f"{server}/model/parse", json={"text": SENTENCE}).json()
    assert parse["text"] == SENTENCE
    assert parse["intent"]["name"] == "book_flight" and parse["intent"]["confidence"] > 0.5
    assert parse["intent_ranking"][0] == parse["intent"]
    assert len(parse["intent_ranking"]) > 1
    entities = [{k: e[k] for k in ("entity", "value", "start", "end")}
                for e in parse["entities"]]
    assert entities == [
        {"entity": "destination", "value": "Taipei", "start": 7, "end": 13},
        {"entity": "arrival_date", "value": "November 2nd", "start": 17, "end": 29}]
    assert all(0 < e["confidence_entity"] <= 1 for e in parse["entities"])

    name = sample_model.name
    batch = httpx.post(f"{server}/v1/models/{name}:predict",
                       json={"instances": [SENTENCE, ""], "top_k": 2}).json()
    first, empty = batch["predictions"]
    assert first["intent"] == "book_flight" and len(first["top"]) == 2
    assert empty == {"text": "", "intent": None, "intent_prob": None, "tokens": [],
                     "tags": [], "slots": []}

    assert set(httpx.get(f"{server}/version").json()) == {"version",
                                                          "minimum_compatible_version"}
    status = httpx.get(f"{server}/status").json()
    assert status["model_id"] == name and status["model_version"] == 1
    assert status["reload_error"] is None and status["model_file"] == str(sample_model)
    assert httpx.get(f"{server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server}/v2/health/ready").json() == {"ready": True}
    metrics = httpx.get(f"{server}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    for line in ('textrnn_requests_total{route="/model/parse",status="200"}',
                 "textrnn_request_duration_seconds_bucket", "textrnn_batch_sentences_count",
                 "textrnn_queue_sentences", "textrnn_model_version 1.0"):
        assert line in metrics.text


def test_64_concurrent_clients_get_what_batch_predict_says(server, sample_model, texts,
                                                           batch_predict):
    path = f"/v1/models/{sample_model.name}:predict"
    bodies = [(path, {"instances": [text]}) for text in texts * 2]
    bodies += [("/model/parse", {"text": text}) for text in texts]
    answers = run_clients(server, bodies, clients=64)
    for (route, body), response in zip(bodies, answers):
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200, response.text
        if route == path:
            (got,) = response.json()["predictions"]
            want = dict(batch_predict[body["instances"][0]])
            # Sentences batched with others of other lengths: the same answer, probabilities
            # equal up to float rounding.
            mine, theirs = got.pop("intent_prob"), want.pop("intent_prob")
            assert mine == theirs or abs(mine - theirs) <= 1e-4
            assert got == want
        else:
            expected = batch_predict[body["text"]]
            assert response.json()["intent"]["name"] == expected["intent"]
            assert [e["value"] for e in response.json()["entities"]] == [
                slot["text"] for slot in expected["slots"]]
    metrics = httpx.get(f"{server}/metrics").text
    count = _metric(metrics, "textrnn_batch_sentences_count")
    assert _metric(metrics, "textrnn_batch_sentences_sum") > count  # some batches held several


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


BAD_INPUTS = [  # (path, body bytes, status, words of the error)
    ("/model/parse", b'{"text": ', 400, "not JSON"),
    ("/model/parse", b"", 400, "not JSON"),
    ("/model/parse", b'{"text": 3}', 400, '"text" must be a string, not a number'),
    ("/model/parse", b'{"txt": "hi"}', 400, '"text" field'),
    ("/model/parse", b'["hi"]', 400, '"text" field'),
    ("/model/parse", b'{"text": "\\ud800"}', 400, "lone surrogate"),
    ("/model/parse", b'{"text": "caf\xe9"}', 400, "not UTF-8"),
    ("/model/parse", b'{"text": "' + b"a" * (1 << 20) + b'"}', 413, "--max-body"),
    ("PREDICT", b'{"instances": []}', 400, "empty"),
    ("PREDICT", b'{"instances": "hi"}', 400, "must be a list"),
    ("PREDICT", b'{"instances": ["hi", null]}', 400, '"instances"[1] must be a string'),
    ("PREDICT", json.dumps({"instances": ["hi"] * 257}).encode(), 413, "--max-instances"),
    ("PREDICT", b'{"instances": ["hi"], "top_k": 0}', 400, "top_k"),
    ("PREDICT", b'{"instances": ["hi"], "threshold": "high"}', 400, "threshold"),
    ("PREDICT", b'{"instances": ["hi"], "slot_confidence": 1}', 400, "slot_confidence"),
    ("/v1/models/other:predict", b'{"instances": ["hi"]}', 404, "no model named 'other'"),
    ("/no/such/route", b"{}", 404, "Not Found"),
    ("/version", b"{}", 405, "Method Not Allowed"),
]


def test_bad_input_gets_a_4xx_naming_the_problem_and_costs_nothing(server, sample_model):
    with httpx.Client(base_url=server, timeout=TIMEOUT) as client:
        for path, body, status, words in BAD_INPUTS:
            path = f"/v1/models/{sample_model.name}:predict" if path == "PREDICT" else path
            response = client.post(path, content=body)
            assert response.status_code == status, (path, body[:40], response.text)
            assert words in response.json()["error"], (path, body[:40], response.text)
        assert client.post("/model/parse", json={"text": SENTENCE}).status_code == 200
        assert '_requests_total{route="/model/parse",status="500"}' not in client.get(
            "/metrics").text


def test_a_token_guards_every_route_but_health_and_a_full_queue_answers_503(sample_model):
    options = ("--token", "s3cret", "--batch-wait-ms", "300", "--queue-size", "4",
               "--max-instances", "4")
    with serving(sample_model, *options) as (url, _):
        assert httpx.get(f"{url}/v2/health/live").status_code == 200
        for route in ("/status", "/version", "/metrics"):
            refused = httpx.get(f"{url}{route}")
            assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert httpx.get(f"{url}/status", headers={"Authorization": "Bearer wrong"}
                         ).status_code == 401
        assert httpx.get(f"{url}/status", headers={"Authorization": "Bearer s3cret"}
                         ).status_code == 200
        assert httpx.get(f"{url}/status?token=s3cret").status_code == 200

        bodies = [("/model/parse?token=s3cret", {"text": SENTENCE})] * 12
        answers = run_clients(url, bodies, clients=12)
        codes = sorted(response.status_code for response in answers)
        assert codes.count(200) >= 4 and 503 in codes and set(codes) == {200, 503}
        busy = next(response for response in answers if response.status_code == 503)
        assert busy.headers["Retry-After"] == "1" and "busy" in busy.json()["error"]


def test_two_worker_processes_answer_and_add_up_their_metrics(sample_model):
    with serving(sample_model, "--workers", "2") as (url, process):
        bodies = [("/model/parse", {"text": SENTENCE})] * 40
        answers = run_clients(url, bodies, clients=8)
        assert all(a.status_code == 200 and a.json()["intent"]["name"] == "book_flight"
                   for a in answers)
        metrics = httpx.get(f"{url}/metrics").text
        assert 'textrnn_requests_total{route="/model/parse",status="200"} 40.0' in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def replace_model(source: Path, target: Path, damage=None) -> None:
    """Put a copy of `source` at `target` the way `textrnn train` does: in one rename."""
    staging = target.parent / f".{target.name}.staging"
    shutil.copytree(source, staging)
    meta = json.loads((staging / bundle.META_FILE).read_text())
    meta["data"]["rows"] = time.time_ns()  # another fingerprint
    (staging / bundle.META_FILE).write_text(json.dumps(meta))
    if damage:
        damage(staging)
    bundle._replace(staging, target)


def truncate_weights(folder: Path) -> None:
    weights = folder / bundle.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])


def wait_for_version(url: str, version: int) -> None:
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/status", timeout=TIMEOUT).json()["model_version"] < version:
        assert time.monotonic() < deadline, f"version {version} never came"
        time.sleep(0.05)


def test_a_model_swapped_under_load_fails_no_request(sample_model, tmp_path, texts):
    live = tmp_path / "live"
    shutil.copytree(sample_model, live)
    with serving(live, "--watch", "0.1") as (url, process):
        fingerprint = httpx.get(f"{url}/status").json()["fingerprint"]

        def swaps():  # while the clients send: a replaced directory, then SIGHUP
            time.sleep(0.3)
            replace_model(sample_model, live)
            wait_for_version(url, 2)
            process.send_signal(signal.SIGHUP)
            wait_for_version(url, 3)
            time.sleep(0.2)

        swapper = threading.Thread(target=swaps)
        swapper.start()
        bodies = [("/model/parse", {"text": text}) for text in texts * 40]
        answers = run_clients(url, bodies, 16, stop=lambda: not swapper.is_alive())
        swapper.join()
        sent = [answer for answer in answers if answer is not None]
        assert answers[-1] is None, "the load ended before the swaps did"
        assert [a.status_code for a in sent] == [200] * len(sent)
        status = httpx.get(f"{url}/status").json()
        assert status["model_version"] == 3 and status["fingerprint"] != fingerprint

        replace_model(sample_model, live, damage=truncate_weights)
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/status").json()["reload_error"] is None:
            assert time.monotonic() < deadline, "the damaged model went unnoticed"
            time.sleep(0.1)
        status = httpx.get(f"{url}/status").json()
        assert status["model_version"] == 3 and "damaged" in status["reload_error"]
        assert httpx.post(f"{url}/model/parse", json={"text": SENTENCE}).status_code == 200
        refused = httpx.post(f"{url}/model/reload")
        assert refused.status_code == 422 and "still serving version 3" in refused.json()["error"]
        assert "textrnn_model_reload_failures_total 2.0" in httpx.get(f"{url}/metrics").text


def test_sigterm_finishes_the_requests_in_flight_then_exits_0(sample_model):
    with serving(sample_model, "--batch-wait-ms", "700") as (url, process):
        async def main():
            async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
                pending = [asyncio.create_task(client.post("/model/parse", json={"text": t}))
                           for t in (SENTENCE, "cancel my flight", "is my bag lost")]
                await asyncio.sleep(0.3)  # the requests are queued, waiting for the batch
                process.send_signal(signal.SIGTERM)
                return await asyncio.gather(*pending)

        answers = asyncio.run(main())
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert process.wait(timeout=30) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/v2/health/live", timeout=2)


def test_a_truncated_weights_file_is_a_damaged_model_on_the_command_line(sample_model,
                                                                         tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(sample_model, damaged)
    truncate_weights(damaged)
    for command in (["predict", SENTENCE], ["serve"]):
        result = runner.invoke(app, [*command, "--model", str(damaged)])
        assert result.exit_code == 2, result.output
        assert "damaged" in result.output and "internal error" not in result.output


def test_serve_without_the_extra_names_it(sample_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = runner.invoke(app, ["serve", "--model", str(sample_model)])
    assert result.exit_code == 2
    assert "pip install 'textrnn[serve]'" in result.output



def test_the_batcher_answers_what_waits_together_within_its_bounds():
    from textrnn.predict.batcher import MicroBatcher, Overloaded

    batches = []

    def run(payloads):
        batches.append(payloads)
        return [payload * 10 for payload in payloads]

    async def main():
        batcher = MicroBatcher(run, max_batch=4, wait_seconds=0.05, capacity=6)
        batcher.start()
        pending = [asyncio.create_task(batcher.submit(n, 1)) for n in range(6)]
        await asyncio.sleep(0)  # all six are queued before the worker wakes
        with pytest.raises(Overloaded):
            await batcher.submit(99, 1)
        results = await asyncio.wait_for(asyncio.gather(*pending), 10)
        await batcher.close()
        return results

    assert asyncio.run(main()) == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 1, 2, 3], [4, 5]]
