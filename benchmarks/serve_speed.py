"""Serving speed on loopback: sentembed serve (torch, onnx, onnx int8) next to infinity and a naive FastAPI
app around the reference's `encode`, on the same model folder and the same load.

A bounded async load generator (plain asyncio streams, keep-alive HTTP/1.1) sends OpenAI-style embedding
requests at concurrency 1, 8 and 64: single STSb sentences, 32 STSb sentences, and 32 SciFact abstracts per
request. Each cell runs for at most `--seconds` or `--requests`, whichever ends first; all servers run at
once and each cell visits them in turn, `--rounds` times, keeping each server's best (so that a change in
background load hits all alike).
Reported: requests/s, texts/s, p50 and p99 latency, and texts/s as a ratio to infinity. The first answer
of every server is checked against the reference's embeddings (max |delta|), so that no server is fast by
being wrong.

infinity (`infinity-emb[server,torch]`) pins sentence-transformers below 4 and numpy below 2, so it runs from a
venv of its own, never the project's: `--infinity-venv DIR` (or the variable SERVE_SPEED_INFINITY_VENV) names
one that has `bin/infinity_emb`, e.g. /tmp/infinity-venv. Without either, the script makes one under
.cache/bench/infinity on first use; it installs torch first (`torch==2.13.0`, which pip's find-links on our
machines resolve to the CPU wheel; elsewhere install a CPU torch into the venv yourself first), then
`infinity-emb[server,torch]==0.0.78`. Pass --no-infinity to leave infinity out; the venv is only made or
used when infinity is among the servers run.

Opt-in cells (named with --servers and --workloads): "sentembed onnx, 1 lane" and "sentembed onnx int8,
1 lane" (`--lanes 1`, against the default of a lane per core, at most 2), "sentembed torch, unpacked"
(`--no-packed-weights`: torch's own matmul and one lane, the torch server before packed weights),
"sentembed torch, 2 workers" (`--workers 2`),
"sentembed torch, cache" (`--cache` on a fresh file), "sentembed torch, passive wait" (OpenMP
threads that sleep at once, `OMP_WAIT_POLICY=PASSIVE`, instead of libgomp's default spin), and the
workload "1 STSb sentence, half repeated": every other request repeats one of 64 sentences, the others are
sentences never sent before (numbered, so that no round or warm-up repeats them). Servers with a cache print
their hits and misses at the end.

Run: .venv/bin/python benchmarks/serve_speed.py [--seconds 15] [--concurrency 1 8 64] [--infinity-venv DIR]
Smoke check that the servers start and answer (its figures mean nothing): .venv/bin/python
benchmarks/serve_speed.py --seconds 1 --requests 10 --rounds 1 --concurrency 1 --workloads "1 STSb sentence"
--servers "sentembed torch" "infinity (torch)"
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from encode_speed import minilm_l6_folder, read_scifact, read_sts_test  # noqa: E402

DEFAULT_INFINITY_VENV = REPO / ".cache" / "bench" / "infinity"
INFINITY_VENV_VARIABLE = "SERVE_SPEED_INFINITY_VENV"
INFINITY = "infinity (torch)"
INT8 = "sentembed onnx int8"
INT8_LANES = "sentembed onnx int8, 1 lane"
UNPACKED = "sentembed torch, unpacked"
# Our torch server with OpenMP threads that sleep at once after each parallel op (OMP_WAIT_POLICY=PASSIVE)
# instead of libgomp's default spin of about 3 ms: better beside other busy processes, worse on idle cores.
PASSIVE = "sentembed torch, passive wait"
INFINITY_REQUIREMENTS = ["torch==2.13.0", "infinity-emb[server,torch]==0.0.78"]
START_TIMEOUT_S = 300
SERVERS = (  # the order they start in and each cell visits them in
    "sentembed torch",
    "sentembed onnx",
    INT8,
    "sentembed onnx, 1 lane",
    INT8_LANES,
    UNPACKED,
    "sentembed torch, 2 workers",
    "sentembed torch, cache",
    PASSIVE,
    "naive FastAPI + reference",
    INFINITY,
)
# Servers and workloads that run only when named (--servers, --workloads).
OPT_IN_SERVERS = (
    "sentembed onnx, 1 lane",
    INT8_LANES,
    UNPACKED,
    "sentembed torch, 2 workers",
    "sentembed torch, cache",
    PASSIVE,
)
OPT_IN_WORKLOADS = ("1 STSb sentence, half repeated",)
REPEATED_SENTENCES = 64
# Every request of a run takes the next payload index, so payloads that must be new stay new across cells.
NEXT_PAYLOAD = itertools.count()
# The longest one answer may take before its connection counts as dropped (seconds).
REQUEST_TIMEOUT_S = 300
QUIET = {"HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0"}


def pick_names(
    parser: argparse.ArgumentParser, option: str, requested: list[str] | None, known: list[str], opt_in: tuple
) -> list[str]:
    """The known names that `option` asked for (in their known order), or all but the opt-in ones without it;
    a name that is not known stops the script."""
    if requested is None:
        return [name for name in known if name not in opt_in]
    unknown = [name for name in requested if name not in known]
    if unknown:
        parser.error(f"{option}: unknown {unknown}; the known names are {list(known)}")
    return [name for name in known if name in requested]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_infinity_venv(venv: Path) -> Path:
    """The `infinity_emb` command of infinity's own venv at `venv`, made there first when it has none (torch
    first, so that pip never pulls a CUDA build for infinity's torch requirement)."""
    executable = venv / "bin" / "infinity_emb"
    if not executable.exists():
        print(f"making infinity's venv in {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for requirement in INFINITY_REQUIREMENTS:
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", requirement], check=True)
    return executable


def naive_app(folder: str, port: int) -> None:
    """The baseline people write first: FastAPI calling the reference's encode once per request."""
    import uvicorn
    from fastapi import FastAPI
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu")
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/v1/embeddings")
    def embeddings(body: dict) -> dict:
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        vectors = model.encode(texts, normalize_embeddings=True)
        return {"object": "list", "data": [{"object": "embedding", "embedding": v.tolist(), "index": i}
                                           for i, v in enumerate(vectors)]}  # fmt: skip

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def server_commands(
    folder: Path, int8_file: str | None, infinity: Path | None, cache_file: Path
) -> dict[str, tuple[list[str], str]]:
    """Each server: (command with {port}, embeddings route); the int8 server only with its file, infinity only
    with its `infinity_emb` command."""
    ours = [sys.executable, "-m", "sentembed.cli.main", "serve", "--model", str(folder), "--port", "{port}",
            "--log-level", "warning", "--max-client-batch-size", "64"]  # fmt: skip
    commands = {
        "sentembed torch": (ours, "/v1/embeddings"),
        "sentembed onnx": ([*ours, "--backend", "onnx"], "/v1/embeddings"),
    }
    commands["sentembed onnx, 1 lane"] = ([*ours, "--backend", "onnx", "--lanes", "1"], "/v1/embeddings")
    commands[UNPACKED] = ([*ours, "--no-packed-weights"], "/v1/embeddings")
    if int8_file is not None:
        int8 = [*ours, "--backend", "onnx", "--model-kwargs", json.dumps({"file_name": int8_file})]
        commands[INT8] = (int8, "/v1/embeddings")
        commands[INT8_LANES] = ([*int8, "--lanes", "1"], "/v1/embeddings")
    commands["sentembed torch, 2 workers"] = ([*ours, "--workers", "2"], "/v1/embeddings")
    commands["sentembed torch, cache"] = ([*ours, "--cache", str(cache_file)], "/v1/embeddings")
    commands[PASSIVE] = (["env", "OMP_WAIT_POLICY=PASSIVE", *ours], "/v1/embeddings")
    commands["naive FastAPI + reference"] = (
        [sys.executable, __file__, "--naive-app", str(folder), "--port", "{port}"],
        "/v1/embeddings",
    )
    if infinity is not None:
        commands[INFINITY] = (
            [
                str(infinity),
                "v2",
                "--model-id",
                str(folder),
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--engine",
                "torch",
                "--device",
                "cpu",
                "--dtype",
                "float32",
                "--no-bettertransformer",
                "--batch-size",
                "32",
                "--log-level",
                "warning",
            ],  # fmt: skip
            "/embeddings",
        )
    return commands


def start(command: list[str], port: int, log: Path) -> subprocess.Popen:
    """Start a server; its stderr goes to `log` (a pipe nobody reads would stall it once full)."""
    command = [part.replace("{port}", str(port)) for part in command]
    with open(log, "wb") as stderr:
        return subprocess.Popen(command, env={**os.environ, **QUIET}, stdout=subprocess.DEVNULL, stderr=stderr)


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not become healthy in {START_TIMEOUT_S} s")


class Dropped(Exception):
    """The server closed the connection, or sent something that is not an HTTP/1.1 answer."""


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 answer from `reader`: its status and body (framed by Content-Length or chunked)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as error:
        raise Dropped(str(error)) from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise Dropped(f"not an HTTP answer: {lines[0]!r}")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    try:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
                body += await reader.readexactly(size + 2)
                del body[-2:]
            await reader.readuntil(b"\r\n")
            return int(parts[1]), bytes(body)
        return int(parts[1]), await reader.readexactly(int(headers.get("content-length", "0")))
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as error:
        raise Dropped(str(error)) from None


def request_bytes(host: str, path: str, payload: dict) -> bytes:
    """A keep-alive HTTP/1.1 POST of `payload` as JSON."""
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def load(
    url: str, model: str, payloads: list[list[str]], concurrency: int, seconds: float, requests: int
) -> dict:
    """Send requests (naming `model`, as clients do) from `concurrency` keep-alive connections until `requests`
    are done or `seconds` pass. The client is a few lines of asyncio streams rather than httpx: httpx's async
    client spent a whole core of the two at 65 requests/s (9.7 s of CPU in a 10 s cell), so the old figures
    measured the client, not the servers; this one spends about a tenth of that. A request whose connection
    the server drops is counted under "dropped" and not timed; the worker reconnects and goes on. An answer
    other than 200 stops the run."""
    address = urllib.parse.urlsplit(url)
    latencies: list[float] = []
    texts = dropped = 0
    stop_at = time.monotonic() + seconds
    counter = iter(range(requests))

    async def worker() -> None:
        nonlocal texts, dropped
        reader = writer = None
        for _ in counter:
            if time.monotonic() > stop_at:
                break
            payload = payloads[next(NEXT_PAYLOAD) % len(payloads)]
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(address.hostname, address.port)
                writer.write(request_bytes(address.netloc, address.path, {"input": payload, "model": model}))
                status, body = await asyncio.wait_for(read_answer(reader), REQUEST_TIMEOUT_S)
            except (Dropped, ConnectionError):
                dropped += 1
                writer = None
                continue
            if status != 200:
                raise RuntimeError(f"{url} answered {status}: {body[:500]!r}")
            latencies.append(time.perf_counter() - started)
            texts += len(payload)
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "requests/s": len(latencies) / elapsed,
        "texts/s": texts / elapsed,
        "p50 ms": 1000 * float(np.percentile(latencies, 50)),
        "p99 ms": 1000 * float(np.percentile(latencies, 99)),
        "dropped": dropped,
    }


def workloads() -> dict[str, list[list[str]]]:
    first, second, _ = read_sts_test()
    sentences = list(dict.fromkeys(first + second))
    abstracts = read_scifact(640)
    repeated, fresh = sentences[:REPEATED_SENTENCES], sentences[REPEATED_SENTENCES:]
    half_repeated = [
        [repeated[index % REPEATED_SENTENCES]] if index % 2 == 0 else [f"{fresh[index % len(fresh)]} (#{index})"]
        for index in range(200_000)
    ]
    return {
        "1 STSb sentence": [[text] for text in sentences],
        "1 STSb sentence, half repeated": half_repeated,
        "32 STSb sentences": [sentences[i : i + 32] for i in range(0, len(sentences) - 32, 32)],
        "32 SciFact abstracts": [abstracts[i : i + 32] for i in range(0, len(abstracts), 32)],
    }


def max_delta(url: str, model: str, texts: list[str], expected: np.ndarray) -> float:
    import httpx

    body = httpx.post(url, json={"input": texts, "model": model}, timeout=300).json()
    got = np.array([item["embedding"] for item in sorted(body["data"], key=lambda item: item["index"])])
    return float(np.abs(got - expected).max())


def export_int8(folder: Path) -> str:
    from sentembed import SentenceTransformer
    from sentembed.backend import export_dynamic_quantized_onnx_model

    model = SentenceTransformer(str(folder), device="cpu", backend="onnx")
    path = Path(export_dynamic_quantized_onnx_model(model, "avx2", str(folder)))
    return str(path.relative_to(folder)) if path.is_absolute() else str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="the most one cell runs")
    parser.add_argument("--requests", type=int, default=20000, help="the most requests one cell sends")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--servers", nargs="+", default=None, help=f"a subset of: {'; '.join(SERVERS)}")
    parser.add_argument("--workloads", nargs="+", default=None, help="a subset of the workload names")
    parser.add_argument("--rounds", type=int, default=2, help="each cell runs this often per server; best kept")
    parser.add_argument("--no-infinity", action="store_true", help="leave infinity out")
    parser.add_argument(
        "--infinity-venv",
        type=Path,
        default=Path(os.environ.get(INFINITY_VENV_VARIABLE, DEFAULT_INFINITY_VENV)),
        help=f"infinity's venv, made there if it lacks bin/infinity_emb (default: ${INFINITY_VENV_VARIABLE}, "
        f"else {DEFAULT_INFINITY_VENV.relative_to(REPO)})",
    )
    parser.add_argument("--naive-app", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_app:
        return naive_app(args.naive_app, args.port)
    loads = workloads()
    names = [name for name in pick_names(parser, "--servers", args.servers, list(SERVERS), OPT_IN_SERVERS)
             if not (args.no_infinity and name == INFINITY)]  # fmt: skip
    chosen_workloads = pick_names(parser, "--workloads", args.workloads, list(loads), OPT_IN_WORKLOADS)

    from sentence_transformers import SentenceTransformer as Reference

    infinity = ensure_infinity_venv(args.infinity_venv) if INFINITY in names else None
    folder = Path(tempfile.mkdtemp(prefix="serve-speed-")) / "all-MiniLM-L6-v2"
    shutil.copytree(minilm_l6_folder(), folder)
    int8_file = export_int8(folder) if {INT8, INT8_LANES} & set(names) else None
    reference = Reference(str(folder), device="cpu")
    check_texts = loads["32 SciFact abstracts"][0]
    expected = reference.encode(check_texts, normalize_embeddings=True)
    del reference
    commands = server_commands(folder, int8_file, infinity, folder.parent / "serve-cache.db")
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    results: dict[str, dict] = {}
    try:
        for index, name in enumerate(names):  # all up at once, so each cell runs them in turn
            command, route = commands[name]
            port, log = free_port(), folder.parent / f"server-{index}.log"
            servers[name] = (start(command, port, log), f"http://127.0.0.1:{port}{route}")
            wait_healthy(f"http://127.0.0.1:{port}", servers[name][0], log)
            delta = max_delta(servers[name][1], str(folder), check_texts, expected)
            print(f"{name}: max |delta| to the reference on 32 SciFact abstracts = {delta:.2e}", flush=True)
        for workload in chosen_workloads:
            payloads = loads[workload]
            for concurrency in args.concurrency:
                for _ in range(args.rounds):
                    for name, (_, url) in servers.items():
                        asyncio.run(load(url, str(folder), payloads, concurrency, 1.0, concurrency * 2))  # warm-up
                        cell = asyncio.run(load(url, str(folder), payloads, concurrency, args.seconds, args.requests))
                        best = results.setdefault(name, {}).get((workload, concurrency))
                        if best is None or cell["texts/s"] > best["texts/s"]:
                            results[name][(workload, concurrency)] = cell
                        figures = "  ".join(f"{key} {value:8.1f}" for key, value in cell.items())
                        print(f"  {name:26s} {workload:22s} c={concurrency:<3d} {figures}", flush=True)
        print_cache_counts(servers)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(120)
    print_table(results)


def print_cache_counts(servers: dict[str, tuple[subprocess.Popen, str]]) -> None:
    """Cache hits and misses of the servers that have a cache, from their /metrics."""
    import httpx

    for name, (_, url) in servers.items():
        if "cache" not in name:
            continue
        text = httpx.get(url.rsplit("/v1/", 1)[0] + "/metrics", timeout=30).text
        counts = {
            line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("sentembed_cache_")
        }
        print(f"{name}: cache hits {counts.get('sentembed_cache_hits_total', 0):.0f}, "
              f"misses {counts.get('sentembed_cache_misses_total', 0):.0f}")  # fmt: skip


def print_table(results: dict[str, dict]) -> None:
    baseline = results.get("infinity (torch)", {})
    columns = "workload | concurrency | server | requests/s | texts/s | p50 ms | p99 ms | texts/s vs infinity | dropped"
    print(f"\n| {columns} |")
    print("|---|---|---|---|---|---|---|---|---|")
    cells = sorted(
        {cell for server in results.values() for cell in server}, key=lambda c: (list(workloads()).index(c[0]), c[1])
    )
    for cell in cells:
        for name, server in results.items():
            if cell not in server:
                continue
            row = server[cell]
            ratio = f"{row['texts/s'] / baseline[cell]['texts/s']:.2f}x" if cell in baseline else "n/a"
            print(f"| {cell[0]} | {cell[1]} | {name} | {row['requests/s']:.1f} | {row['texts/s']:.1f} | "
                  f"{row['p50 ms']:.1f} | {row['p99 ms']:.1f} | {ratio} | {row['dropped']} |")  # fmt: skip


if __name__ == "__main__":
    main()
