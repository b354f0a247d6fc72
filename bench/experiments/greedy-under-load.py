#!/usr/bin/env python3
"""Greedy answers under load must equal the same prompt sent alone (issue 8, part 1).

Starts `tandem serve` (the built CLI), optionally starts busy-loop processes beside it, sends each prompt
alone once, then N concurrent streamed greedy completions cycling over the prompts, and counts answers whose
text differs from the solo answer. Standard library only. Example:

  dotnet build src/Tandem.Cli -c Release
  python3 bench/experiments/greedy-under-load.py --mode chunked --requests 300 --busy 2 --rounds 3
"""
import argparse, json, os, signal, subprocess, sys, time, http.client
from concurrent.futures import ThreadPoolExecutor

PROMPTS = ["Once upon a time", "The cat sat", "Lily and Ben went to the park", "One day, a little bird"]


def complete(port, prompt, max_tokens):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True})
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    text = []
    for raw in resp:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        for choice in chunk.get("choices", []):
            text.append(choice.get("text", ""))
    conn.close()
    return "".join(text)


def wait_ready(port, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tandem", default="src/Tandem.Cli/bin/Release/net10.0/tandem", help="built tandem executable")
    ap.add_argument("--model", default="../shared/models/stories260K.gguf")
    ap.add_argument("--mode", default="chunked")
    ap.add_argument("--port", type=int, default=8123)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--busy", type=int, default=2, help="busy-loop processes beside the server")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()

    server = subprocess.Popen([args.tandem, "serve", "--model", args.model, "--mode", args.mode, "--port", str(args.port), "--served-model-name", "m"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    busy = []
    try:
        wait_ready(args.port, server)
        solo = {p: complete(args.port, p, args.max_tokens) for p in PROMPTS}
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
        total_diff = 0
        for r in range(args.rounds):
            prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.requests)]
            with ThreadPoolExecutor(max_workers=args.requests) as pool:
                answers = list(pool.map(lambda p: complete(args.port, p, args.max_tokens), prompts))
            diff = sum(1 for p, a in zip(prompts, answers) if a != solo[p])
            total_diff += diff
            print(json.dumps({"mode": args.mode, "round": r + 1, "requests": args.requests, "busy": args.busy, "differ": diff}), flush=True)
        print(json.dumps({"mode": args.mode, "rounds": args.rounds, "requests": args.requests * args.rounds, "differ": total_diff}), flush=True)
        return 1 if total_diff else 0
    finally:
        for b in busy:
            b.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
