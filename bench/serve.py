"""Serving benchmark: `textrnn serve` under load from 1, 8 and 64 clients, beside batch
`textrnn predict` through the CLI in the same run.

    .venv/bin/python bench/serve.py --model DIR --out FILE.json [--data test.csv]

The load comes from a small HTTP/1.1 keep-alive client on asyncio streams (standard library
only), one connection per client: on two shared cores a heavier client (httpx) would measure
itself more than the server. Everything runs on 127.0.0.1; every phase is bounded in requests
and time. Prints a Markdown table and writes every number to FILE.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "snips" / "test.csv"
CLI_LINES = 10_000  # lines for the CLI's warm throughput
PHASE_TIMEOUT = 900  # seconds, for any one phase


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def env() -> dict:
    """The child processes import this checkout's textrnn, one BLAS thread (as the CLI sets)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}


def textrnn(*args: str) -> list[str]:
    return [sys.executable, "-m", "textrnn", *args]


def cli_predict(model: Path, texts: list[str], work: Path) -> dict:
    """Batch `textrnn predict` sentences/s with the start-up (one sentence's run) taken out."""
    lines = (texts * (CLI_LINES // len(texts) + 1))[:CLI_LINES]
    source = work / "lines.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = ["--format", "jsonl", "--output", os.devnull, "--model", str(model)]
    started = time.perf_counter()
    subprocess.run(textrnn("predict", texts[0], *base), check=True, env=env(),
                   timeout=PHASE_TIMEOUT)
    single = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(textrnn("predict", "--input", str(source), *base), check=True, env=env(),
                   timeout=PHASE_TIMEOUT)
    wall = time.perf_counter() - started
    return {"lines": len(lines), "wall_seconds": wall, "single_seconds": single,
            "sentences_per_second": len(lines) / (wall - single)}


def request_bytes(path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


async def _client(port: int, requests: list[bytes], state: dict, latencies: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while state["next"] < len(requests):
            request = requests[state["next"]]
            state["next"] += 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:12] != b"200" or b'"intent' not in body:
                state["errors"] += 1
    finally:
        writer.close()


def load(port: int, requests: list[bytes], clients: int, sentences: int) -> dict:
    """Send every request from `clients` connections; throughput, latency, errors."""
    state = {"next": 0, "errors": 0}
    latencies: list[float] = []

    async def main():
        await asyncio.wait_for(asyncio.gather(*(
            _client(port, requests, state, latencies) for _ in range(clients))), PHASE_TIMEOUT)

    started = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(requests), "sentences": sentences,
            "errors": state["errors"], "wall_seconds": wall,
            "sentences_per_second": sentences / wall, **percentiles(latencies),
            "first_1000": percentiles(latencies[:1000]),
            "last_1000": percentiles(latencies[-1000:])}


def percentiles(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "mean_ms": statistics.fmean(ordered) * 1000}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: Path, port: int) -> subprocess.Popen:
    import urllib.request

    process = subprocess.Popen(textrnn("serve", "--model", str(model), "--port", str(port)),
                               env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not become ready in 120 s")


def run(model: Path, texts: list[str], long_run: int, batch_size: int) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    name = model.resolve().name
    parse = [request_bytes("/model/parse", {"text": text}) for text in texts]
    cycle = lambda n: (parse * (n // len(parse) + 1))[:n]  # noqa: E731
    batches = [request_bytes(f"/v1/models/{name}:predict",
                             {"instances": texts[i: i + batch_size]})
               for i in range(0, len(texts) - batch_size + 1, batch_size)]
    result: dict = {"load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as work:
        log("CLI batch predict")
        result["cli"] = cli_predict(model, texts, Path(work))
    server = start_server(model, port)
    try:
        log("warm-up: 1,000 requests")
        load(port, cycle(1000), 1, 1000)
        phases = [("1 client, before", 3000, 1), ("8 clients", 10_000, 8),
                  (f"64 clients, {long_run:,} requests", long_run, 64),
                  ("1 client, after", 3000, 1)]
        result["phases"] = {}
        for label, count, clients in phases:
            log(label)
            result["phases"][label] = load(port, cycle(count), clients, count)
        log(f"64 clients, batch route, {batch_size} sentences per request")
        rounds = (batches * (2000 // len(batches) + 1))[:2000]
        result["phases"][f"64 clients, batch route x{batch_size}"] = load(
            port, rounds, 64, len(rounds) * batch_size)
        result["server_peak_rss_mib"] = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        result["server_exit_code"] = server.wait(timeout=60)
    result["load_average_after"] = os.getloadavg()
    return result


def table(result: dict) -> str:
    cli = result["cli"]["sentences_per_second"]
    rows = ["| load | requests | sentences/s | vs CLI batch | p50 ms | p99 ms | errors |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| CLI `predict --input` ({result['cli']['lines']:,} lines, warm) | – | {cli:,.0f} "
            "| 100% | – | – | – |"]
    for label, phase in result["phases"].items():
        rows.append(f"| {label} | {phase['requests']:,} | {phase['sentences_per_second']:,.0f} "
                    f"| {phase['sentences_per_second'] / cli:.0%} | {phase['p50_ms']:.2f} | "
                    f"{phase['p99_ms']:.2f} | {phase['errors']} |")
    long_run = next(p for label, p in result["phases"].items() if label.startswith("64 clients,"))
    before, after = result["phases"]["1 client, before"], result["phases"]["1 client, after"]
    loads = ["/".join(f"{x:.1f}" for x in result[key])
             for key in ("load_average_before", "load_average_after")]
    rows += ["", f"64-client run, p50/p99: first 1,000 requests {_pair(long_run['first_1000'])}"
             f" ms, last 1,000 {_pair(long_run['last_1000'])} ms. One client before it "
             f"{_pair(before)} ms, after it {_pair(after)} ms.",
             f"Server peak RSS {result['server_peak_rss_mib']:.0f} MiB; exit code after SIGTERM "
             f"{result['server_exit_code']}. Load average (1/5/15 min) before {loads[0]}, after "
             f"{loads[1]} (a shared machine)."]
    return "\n".join(rows)


def _pair(phase: dict) -> str:
    return f"{phase['p50_ms']:.2f}/{phase['p99_ms']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the figures")
    parser.add_argument("--data", type=Path, default=DATA, help="CSV with a text column")
    parser.add_argument("--requests", type=int, default=100_000,
                        help="requests in the 64-client run (default 100,000)")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="sentences per request on the batch route")
    args = parser.parse_args()
    with open(args.data, encoding="utf-8", newline="") as handle:
        texts = [" ".join(row["text"].split()) for row in csv.DictReader(handle)]
    result = run(args.model, [t for t in texts if t], args.requests, args.batch_size)
    result["model"] = str(args.model)
    result["cpus"] = os.cpu_count()
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
