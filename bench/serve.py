"""Serving benchmark: `textrnn serve` under load from 1, 8 and 64 clients, beside batch
`textrnn predict` through the CLI in the same run.

    .venv/bin/python bench/serve.py --model DIR --out FILE.json [--data test.csv] [--client wrk]

The load comes from `wrk` (Debian's package: compiled, one thread, a Lua script that cycles
through the sentences, one a request) when it is installed, else from a small HTTP/1.1
keep-alive client on asyncio streams (standard library only); one connection per client. On
two shared cores the load generator's own CPU is taken from the server, so the lighter the
better. Everything runs on 127.0.0.1; every phase is bounded in requests or time. Prints a
Markdown table and writes every number to FILE.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import re
import shutil
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


def cli_predict(model: Path, texts: list[str], work: Path, engine: str) -> dict:
    """Batch `textrnn predict` sentences/s with the start-up (one sentence's run) taken out."""
    lines = (texts * (CLI_LINES // len(texts) + 1))[:CLI_LINES]
    source = work / "lines.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = ["--format", "jsonl", "--output", os.devnull, "--model", str(model), "--engine",
            engine]
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


WRK_SCRIPT = """-- POST /model/parse with one sentence a request, cycling through them
local bodies = {%s}
local at = 0
request = function()
  at = at %% #bodies + 1
  return wrk.format("POST", "/model/parse", {["Content-Type"] = "application/json"}, bodies[at])
end
"""
WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_load(port: int, texts: list[str], connections: int, seconds: int, work: Path) -> dict:
    """`wrk` for `seconds` from `connections` connections; throughput, latency, errors."""
    script = work / "parse.lua"
    bodies = ", ".join(f"[==[{json.dumps({'text': text})}]==]" for text in texts)
    script.write_text(WRK_SCRIPT % bodies, encoding="utf-8")
    done = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s",
                           "--latency", "-s", str(script), f"http://127.0.0.1:{port}/"],
                          capture_output=True, text=True, check=True,
                          timeout=seconds + PHASE_TIMEOUT)
    out = done.stdout
    latency = {q: float(v) * WRK_UNITS[unit] for q, v, unit in
               re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|"
                                            r"timeout):? (\d+)", out))
    return {"clients": connections, "requests": requests, "sentences": requests,
            "errors": errors, "wall_seconds": seconds,
            "sentences_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": latency["50"], "p99_ms": latency["99"], "wrk": out}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: Path, port: int, engine: str) -> subprocess.Popen:
    import urllib.request

    process = subprocess.Popen(textrnn("serve", "--model", str(model), "--port", str(port),
                                       "--engine", engine),
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def cli_then_server(model: Path, texts: list[str], engine: str, client: str):
    """The CLI's warm rate first (the cores to itself), then the server on a free port:
    yields (result, port, server) and records the server's peak RSS and exit."""
    port = free_port()
    result: dict = {"load_average_before": os.getloadavg(), "client": client, "phases": {}}
    with tempfile.TemporaryDirectory() as work:
        log("CLI batch predict")
        result["cli"] = cli_predict(model, texts, Path(work), engine)
    server = start_server(model, port, engine)
    try:
        yield result, port, server
        result["server_peak_rss_mib"] = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        result["server_exit_code"] = server.wait(timeout=60)
    result["load_average_after"] = os.getloadavg()


def run_wrk(model: Path, texts: list[str], seconds: int, engine: str) -> dict:
    """The CLI's warm rate, then `wrk` at 1, 8 and 64 connections (the last for `seconds`)."""
    with cli_then_server(model, texts, engine, "wrk") as (result, port, _), \
            tempfile.TemporaryDirectory() as work:
        log("warm-up: 5 s")
        wrk_load(port, texts, 1, 5, Path(work))
        for label, clients, length in (("1 connection", 1, 20), ("8 connections", 8, 20),
                                       ("64 connections", 64, seconds)):
            log(f"{label}, {length} s")
            result["phases"][label] = wrk_load(port, texts, clients, length, Path(work))
    return result


def run(model: Path, texts: list[str], long_run: int, batch_size: int, engine: str) -> dict:
    name = model.resolve().name
    parse = [request_bytes("/model/parse", {"text": text}) for text in texts]
    cycle = lambda n: (parse * (n // len(parse) + 1))[:n]  # noqa: E731
    batches = [request_bytes(f"/v1/models/{name}:predict",
                             {"instances": texts[i: i + batch_size]})
               for i in range(0, len(texts) - batch_size + 1, batch_size)]
    with cli_then_server(model, texts, engine, "python") as (result, port, _):
        log("warm-up: 1,000 requests")
        load(port, cycle(1000), 1, 1000)
        phases = [("1 client, before", 3000, 1), ("8 clients", 10_000, 8),
                  (f"64 clients, {long_run:,} requests", long_run, 64),
                  ("1 client, after", 3000, 1)]
        for label, count, clients in phases:
            log(label)
            result["phases"][label] = load(port, cycle(count), clients, count)
        log(f"64 clients, batch route, {batch_size} sentences per request")
        rounds = (batches * (2000 // len(batches) + 1))[:2000]
        result["phases"][f"64 clients, batch route x{batch_size}"] = load(
            port, rounds, 64, len(rounds) * batch_size)
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
    loads = ["/".join(f"{x:.1f}" for x in result[key])
             for key in ("load_average_before", "load_average_after")]
    rows.append("")
    if result["client"] == "python":
        long_run = next(p for label, p in result["phases"].items()
                        if label.startswith("64 clients,"))
        before, after = result["phases"]["1 client, before"], result["phases"]["1 client, after"]
        rows.append(f"64-client run, p50/p99: first 1,000 requests "
                    f"{_pair(long_run['first_1000'])} ms, last 1,000 "
                    f"{_pair(long_run['last_1000'])} ms. One client before it {_pair(before)} "
                    f"ms, after it {_pair(after)} ms.")
    else:
        rows.append("Load from `wrk -t 1 --latency` with a Lua script cycling through the "
                    "sentences (`/model/parse`, one a request); errors are non-2xx answers and "
                    "socket errors.")
    rows += [f"Server peak RSS {result['server_peak_rss_mib']:.0f} MiB; exit code after SIGTERM "
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
    parser.add_argument("--client", choices=("wrk", "python"),
                        default="wrk" if shutil.which("wrk") else "python",
                        help="load generator (default: wrk when installed)")
    parser.add_argument("--engine", default="numpy", help="numpy or onnx, for the CLI and the "
                        "server alike")
    parser.add_argument("--seconds", type=int, default=60,
                        help="wrk: length of the 64-connection run")
    args = parser.parse_args()
    with open(args.data, encoding="utf-8", newline="") as handle:
        texts = [" ".join(row["text"].split()) for row in csv.DictReader(handle)]
    texts = [t for t in texts if t]
    result = (run_wrk(args.model, texts, args.seconds, args.engine) if args.client == "wrk"
              else run(args.model, texts, args.requests, args.batch_size, args.engine))
    result["model"] = str(args.model)
    result["cpus"] = os.cpu_count()
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
