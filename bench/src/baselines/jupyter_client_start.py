"""Jupyter's own path, timed inside Python: start_new_kernel + wait_for_ready (+ optional 1+1).

Run with Debian's /usr/bin/python3, whose native kernelspec is that same interpreter.
One unrecorded start first, so one-time costs (kernelspec lookup, provisioner entry points)
are not charged to the baseline: Runyard's side is warmed up the same way.
Prints one JSON object: {"start_ms": [...], "first_result_ms": [...]}.
"""
import json
import sys
import time

from jupyter_client.manager import start_new_kernel

runs = int(sys.argv[1])
execute = len(sys.argv) > 2 and sys.argv[2] == "execute"
start_ms, first_ms = [], []
for i in range(runs + 1):
    t0 = time.perf_counter()
    km, kc = start_new_kernel(startup_timeout=60)
    kc.wait_for_ready(timeout=60)
    started = (time.perf_counter() - t0) * 1000
    if execute:
        reply = kc.execute_interactive("1+1", timeout=60, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
        first = (time.perf_counter() - t0) * 1000
    if i > 0:
        start_ms.append(started)
        if execute:
            first_ms.append(first)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print(json.dumps({"start_ms": start_ms, "first_result_ms": first_ms}))
