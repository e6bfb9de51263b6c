"""Jupyter's own path, timed inside Python: start_new_kernel + wait_for_ready + execute 1+1.

Run with Debian's /usr/bin/python3, whose native kernelspec is that same interpreter. A warm
process serves one timed start per line on stdin ("start"), answering one JSON line per request:
{"start_ms": ..., "first_result_ms": ...}; so the harness can interleave these starts with the
other kernel starts it measures, and one-time costs (imports, kernelspec lookup, provisioner
entry points) are paid before the first timed start, as they are on Runyard's side.
"""
import json
import sys
import time

from jupyter_client.manager import start_new_kernel


def one():
    t0 = time.perf_counter()
    km, kc = start_new_kernel(startup_timeout=60)
    try:
        kc.wait_for_ready(timeout=60)
        started = (time.perf_counter() - t0) * 1000
        reply = kc.execute_interactive("1+1", timeout=60, output_hook=lambda msg: None)
        first = (time.perf_counter() - t0) * 1000
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"1+1 failed: {reply['content']}")
        return {"start_ms": started, "first_result_ms": first}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


for line in sys.stdin:
    if line.strip() != "start":
        continue
    print(json.dumps(one()), flush=True)
