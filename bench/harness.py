"""The bench's harness: commands run with a timeout (textrnn's CLI, Python snippets), one
process's wall time, CPU time and peak RSS, the data files (with --limit's samples), a row that
fails without stopping the others, and the stamps of the machine, versions and textrnn source."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 13  # textrnn's default seed; with --seeds N the rows use SEED, SEED + 1, ...
SINGLE_RUNS = 5  # single-sentence predict: median of this many cold runs
WARM_LINES = 10_000  # lines fed to the predictor to estimate warm (start-up free) throughput
TRAIN_TIMEOUT = 4 * 3600
PREDICT_TIMEOUT = 1800


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which command and why."""


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- subprocesses


def textrnn_exe() -> str:
    beside = Path(sys.executable).parent / "textrnn"
    if beside.exists():
        return str(beside)
    found = shutil.which("textrnn")
    if not found:
        raise BenchError("the `textrnn` command is not installed (pip install -e .)")
    return found


def child_env() -> dict:
    """The environment of the commands a bench runs: TensorFlow quiet, hashing seeded."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("PYTHONHASHSEED", str(SEED))
    return env


def run(cmd: list[str], timeout: float, stdin=None) -> tuple[float, str]:
    """Run a command; returns (wall seconds, stdout). Raises BenchError on failure."""
    shown = shlex.join(str(c) for c in cmd)
    started = time.perf_counter()
    try:
        done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout, env=child_env(),
                              stdin=stdin or subprocess.DEVNULL,
                              cwd=ROOT)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"timed out after {timeout:.0f} s: {shown}") from error
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise BenchError(f"exit code {done.returncode}: {shown}\n{tail}")
    return wall, done.stdout


def run_json(cmd: list[str], timeout: float) -> tuple[float, dict]:
    wall, out = run(cmd, timeout)
    try:
        return wall, json.loads(out)
    except json.JSONDecodeError as error:
        raise BenchError(f"no JSON from {shlex.join(cmd)}: {out[:500]!r}") from error


def describe_error(error: Exception) -> str:
    detail = str(error) if isinstance(error, BenchError) else traceback.format_exc()
    return f"{type(error).__name__}: {detail}".strip()


def stamped_attempt(function, *args) -> dict:
    """function(*args)'s result, or {"error": the command and its last words}, with when it
    started (UTC) and the load average then: runs of other days and loads share one table."""
    started = {"started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
               "load": os.getloadavg()[0]}
    try:
        result = function(*args)
    except Exception as error:  # the other runs still go ahead
        lines = str(error).splitlines()
        result = {"error": " ... ".join(dict.fromkeys([lines[0], lines[-1]]))}
    return {**result, **started}


def keep_run(saved: dict, result: dict, key: tuple[str, ...], store: Path) -> None:
    """`result` in place of the saved run with the same values of `key`; the JSON rewritten."""
    saved["runs"] = [run for run in saved["runs"]
                     if [run[k] for k in key] != [result[k] for k in key]]
    saved["runs"].append(result)
    store.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")


def attempt(rows: dict, kind: str, function, *args, **kwargs) -> None:
    """rows[kind] = function(...), or {"error": ...} if it fails: one model failing leaves the
    dataset's other rows standing."""
    try:
        rows[kind] = function(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except Exception as error:
        rows[kind] = {"error": describe_error(error)}
        log(f"{kind} FAILED: {rows[kind]['error']}")


def over_seeds(train_one, seeds: list[int], figures: tuple[tuple[str, ...], ...]) -> dict:
    """One row from the same model trained once per seed, `train_one(seed, first)` returning
    each seed's row (`first` for the first seed: only its predictions are timed). That is the
    first seed's row (its command, model and prediction timing) with each figure at a path in
    `figures` (a number, or a dict of metrics) replaced by its mean over the seeds, the sample
    standard deviation under `spread` (keyed by the dotted path), and every seed's own row
    under `per_seed`. With one seed, that seed's row as it is."""
    runs = [train_one(seed, i == 0) for i, seed in enumerate(seeds)]
    if len(runs) == 1:
        return runs[0]
    row = {**runs[0], "seeds": seeds, "spread": {},
           "per_seed": [{"seed": seed, **{k: v for k, v in run.items() if k != "predict"}}
                        for seed, run in zip(seeds, runs)]}
    for path in figures:
        values = [dig(run, path) for run in runs]
        if any(value is None for value in values):
            continue
        *parents, last = path
        into = row
        for key in parents:  # copies: the first seed's own dicts stay in per_seed
            into[key] = dict(into[key])
            into = into[key]
        into[last], row["spread"][".".join(path)] = mean_std(values)
    return row


def dig(row: dict, path: tuple[str, ...]):
    for key in path:
        row = row.get(key) if isinstance(row, dict) else None
    return row


def mean_std(values: list):
    """(mean, sample standard deviation) of numbers, or of dicts of them key by key (nested
    dicts too; other entries are the first value's, with no spread)."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return statistics.mean(values), statistics.stdev(values)
    if not all(isinstance(v, dict) for v in values):
        return values[0], None
    mean, std = dict(values[0]), {}
    for key in values[0]:
        if all(key in v for v in values):
            mean[key], spread = mean_std([v[key] for v in values])
            if spread is not None:
                std[key] = spread
    return mean, std


def mean_std_text(values: list[float], digits: int = 2) -> str:
    """`mean ± std` of the values (the value alone when there is one), for a table cell."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


GNU_TIME = "/usr/bin/time"


def gnu_time() -> str | None:
    """GNU time (Debian's `time` package) if installed and it takes -f/-o."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    try:
        done = subprocess.run([GNU_TIME, "-f", "%M", "-o", os.devnull, "true"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return GNU_TIME if done.returncode == 0 else None


def _feed(pipe, lines: list[str], count: int) -> None:
    """Write `count` lines to `pipe`, cycling through `lines` one block at a time (never the
    whole stream in memory), then close it."""
    block_lines = [one_line(line) + "\n" for line in lines]
    block = "".join(block_lines).encode("utf-8")
    whole, rest = divmod(count, len(block_lines))
    try:
        for _ in range(whole):
            pipe.write(block)
        if rest:
            pipe.write("".join(block_lines[:rest]).encode("utf-8"))
    except OSError:  # the child has gone (BrokenPipeError): its exit status says why
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def measured(cmd: list, timeout: float, work: Path,
             feed: tuple[list[str], int] | None = None) -> dict:
    """Run `cmd` with stdout to /dev/null and, with `feed` = (lines, count), `count` lines
    streamed into its stdin from a writer thread; wall seconds, peak RSS and CPU seconds of
    that one process. Peak RSS comes from GNU time's %M when installed, else from polling the
    process's VmHWM in /proc. Not from rusage: a child forked from this (large) process and
    then exec'd records this process's RSS as its own high-water mark."""
    cmd = [str(c) for c in cmd]
    shown = shlex.join(cmd)
    tool = gnu_time()
    timed_out = threading.Event()
    with tempfile.TemporaryDirectory(dir=work) as scratch, \
            tempfile.TemporaryFile(dir=work) as stderr:
        stats = Path(scratch) / "time.txt"
        full = [tool, "-f", "%M %U %S", "-o", str(stats), *cmd] if tool else cmd
        started = time.perf_counter()
        proc = subprocess.Popen(full, stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, env=child_env(),
                                cwd=ROOT,
                                start_new_session=True)

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, 9)  # the group: GNU time's child too
            except OSError:
                pass

        writer = None
        if feed:
            writer = threading.Thread(target=_feed, args=(proc.stdin, *feed), daemon=True)
            writer.start()
        timer = threading.Timer(timeout, kill)
        timer.start()
        hwm: list[int] = []
        poller = None
        if not tool:
            poller = threading.Thread(target=_poll_hwm, args=(proc.pid, hwm), daemon=True)
            poller.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        for thread in (writer, poller):
            if thread is not None:
                thread.join(timeout=60)
        stderr.seek(0)
        tail = "\n".join(stderr.read().decode("utf-8", "replace").strip().splitlines()[-15:])
        report = stats.read_text(encoding="utf-8", errors="replace") if stats.exists() else ""
    if timed_out.is_set():
        raise BenchError(f"timed out after {timeout:.0f} s: {shown}")
    if proc.returncode != 0:
        raise BenchError(f"exit code {proc.returncode}: {shown}\n{tail}")
    out = {"command": shown, "wall_seconds": wall}
    figures = report.strip().splitlines()[-1].split() if report.strip() else []
    if tool and len(figures) == 3:
        out.update(peak_rss_mib=int(figures[0]) / 1024, cpu_user_seconds=float(figures[1]),
                   cpu_system_seconds=float(figures[2]), rss_method="GNU time %M")
    else:
        out.update(peak_rss_mib=max(hwm) / 1024 if hwm else None,
                   cpu_user_seconds=usage.ru_utime, cpu_system_seconds=usage.ru_stime,
                   rss_method=f"VmHWM in /proc/<pid>/status, polled every {HWM_POLL} s")
    return out


HWM_POLL = 0.05  # seconds between reads of VmHWM when GNU time is not installed


def proc_status_kib(pid: int, field: str) -> int | None:
    """A memory field of /proc/PID/status in KiB (VmRSS, VmHWM), or None once the process
    has gone (or is a zombie, whose memory is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            found = [int(line.split()[1]) for line in handle if line.startswith(f"{field}:")]
    except (OSError, ValueError, IndexError):
        return None
    return found[0] if found else None


def _poll_hwm(pid: int, into: list[int]) -> None:
    """Append the process's VmHWM (KiB) until it exits; the last read is the peak so far."""
    while (peak := proc_status_kib(pid, "VmHWM")) is not None:
        into.append(peak)
        time.sleep(HWM_POLL)


# ----------------------------------------------------------------------------- data


def read_csv(path: Path) -> list[dict]:
    if not path.exists():
        raise BenchError(f"missing data file {path}")
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def data_file(args, work: Path, folder: str, split: str) -> Path:
    """DATA_DIR/FOLDER/SPLIT.csv; with --limit N, a seeded sample of N of its rows (kept in
    file order) written under WORK, for quick checks."""
    path = args.data_dir / folder / f"{split}.csv"
    if not args.limit:
        return path
    rows = read_csv(path)
    if len(rows) <= args.limit:
        return path
    keep = sorted(random.Random(SEED).sample(range(len(rows)), args.limit))
    return write_csv(work / f"limit{args.limit}-{folder}-{split}.csv", [rows[i] for i in keep])


def snips_files(args, work: Path) -> tuple[Path, Path, Path]:
    """SNIPS train, dev and test."""
    return tuple(data_file(args, work, "snips", split) for split in ("train", "dev", "test"))


def write_lines(path: Path, lines: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(one_line(line) + "\n" for line in lines)
    return path


def one_line(text: str) -> str:
    return " ".join(text.split())


def repeated(lines: list[str], at_least: int) -> list[str]:
    times = max(1, -(-at_least // max(1, len(lines))))
    return lines * times


def slim(metrics: dict) -> dict:
    """Metrics without the bulky per-class tables and confusion matrices."""
    drop = {"per_class", "per_slot", "confusion", "errors"}
    out = {k: v for k, v in metrics.items() if k not in drop and k != "by_value"}
    for side, scores in (metrics.get("by_value") or {}).items():  # seen / unseen slot values
        out[f"slot_f1_{side}"] = scores["f1"]
    if isinstance(out.get("intent"), dict):
        out["intent"] = {k: v for k, v in out["intent"].items() if k not in drop}
    return out


def headline(metrics: dict) -> str:
    keys = ("accuracy", "macro_f1", "intent_accuracy", "slot_f1", "frame_accuracy")
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float))


# ----------------------------------------------------------------------------- stamps


def machine() -> dict:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                ram = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": model, "cores": os.cpu_count(), "ram_bytes": ram,
            "os": platform.platform(), "loadavg": load}


def run_header(script: str, info: dict) -> str:
    """"`bench/x.py`, last run DATE, CPU N cores (load L at its start)": where a figure came
    from, for the sections that accumulate runs in a JSON file."""
    m = info["machine"]
    return (f"`bench/{script}`, last run {info['date']}, {m['cpu']} {m['cores']} cores (load "
            f"{m['loadavg'][0]:.2f} at its start")


def versions() -> dict:
    def version(*names):
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return None

    commit, dirty = git_state()
    return {"python": platform.python_version(),
            "tensorflow": version("tensorflow-cpu", "tensorflow"),
            "keras": version("keras"), "numpy": version("numpy"),
            "fasttext": version("fasttext-wheel", "fasttext"),
            "typer": version("typer"),  # every CLI call's start-up depends on it
            "textrnn": version("textrnn"), "textrnn_commit": commit,
            "textrnn_dirty": bool(dirty)}


def cpu_peak() -> dict:
    """FP32 peak of the cores this process may use, from /proc/cpuinfo's flags and clock."""
    flags, mhz, model = set(), [], "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags":
                flags.update(value.split())
            elif key == "cpu MHz":
                mhz.append(float(value))
            elif key == "model name":
                model = value.strip()
    except (OSError, ValueError):
        pass
    if "avx512f" in flags:
        per_cycle, simd = 64, "AVX-512 + FMA: 2 FMA units x 16 float32 lanes x 2 FLOPs"
    elif {"avx2", "fma"} <= flags:
        per_cycle, simd = 32, "AVX2 + FMA: 2 FMA units x 8 float32 lanes x 2 FLOPs"
    elif "avx" in flags:
        per_cycle, simd = 16, "AVX without FMA: one 8-lane add and one 8-lane multiply"
    else:
        per_cycle, simd = 8, "SSE: one 4-lane add and one 4-lane multiply"
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    out = {"cpu": model, "cores": cores, "mhz": max(mhz) if mhz else None,
           "flops_per_cycle_per_core": per_cycle, "simd": simd, "peak_flops": None}
    if mhz:
        out["peak_flops"] = cores * max(mhz) * 1e6 * per_cycle
    return out


def source_state() -> dict:
    """Which textrnn code a row ran: git HEAD, uncommitted changes, a hash of textrnn/*.py.
    textrnn is installed editable, so code edited during a run changes later rows."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "textrnn").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    commit, dirty = git_state()
    return {"source_sha256": digest.hexdigest()[:12], "commit": commit, "dirty": dirty}


def git_state() -> tuple[str | None, bool | None]:
    """The checkout's HEAD (short) and whether textrnn/ has uncommitted changes; None for what
    git could not say."""
    commit = dirty = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "textrnn"],
                                    cwd=ROOT, text=True, capture_output=True,
                                    check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return commit, dirty
