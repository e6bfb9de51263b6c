"""Writes the round-trip fixtures. Run with Debian's interpreter: /usr/bin/python3 make-fixtures.py

jupyter.ipynb is written by nbformat itself (what JupyterLab/Notebook save); the others are
shaped after their writers' conventions (key order, indent, trailing newline, source form).
"""
import copy
import json
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

nb = new_notebook(metadata={
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                      "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                      "pygments_lexer": "ipython3", "version": "3.11.2"},
    "toc": {"base_numbering": 1.0, "nav_menu": {}, "title_cell": "Table of Contents"},
})
nb.cells = [
    new_markdown_cell("# Analyse\n\nCafé ✓ 🚀 — unicode stays as written.", id="intro-md"),
    new_code_cell("import math\nprint('hello')\nmath.pi", id="c0ffee01", execution_count=1, outputs=[
        new_output("stream", name="stdout", text="hello\n"),
        new_output("execute_result", execution_count=1, data={"text/plain": "3.141592653589793"}),
    ], metadata={"scrolled": False, "tags": ["setup"], "jupyter": {"source_hidden": False}}),
    new_code_cell("display(img)", id="c0ffee02", execution_count=2, outputs=[
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure size 640x480 with 1 Axes>",
                                         "text/html": "<div><script>alert(1)</script><b>Figure</b> &amp; caption</div>"},
                   metadata={"image/png": {"width": 1.0, "height": 2.5}}),
    ]),
    new_code_cell("1/0", id="c0ffee03", execution_count=3, outputs=[
        new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[
            "\u001b[0;31m---------------------------------------------------------------------------\u001b[0m",
            "\u001b[0;31mZeroDivisionError\u001b[0m                         Traceback (most recent call last)",
            "Cell \u001b[0;32mIn[3], line 1\u001b[0m\n\u001b[0;32m----> 1\u001b[0m \u001b[38;5;241;43m1\u001b[39;49m\u001b[38;5;241;43m/\u001b[39;49m\u001b[38;5;241;43m0\u001b[39;49m\n",
            "\u001b[0;31mZeroDivisionError\u001b[0m: division by zero"]),
    ]),
    new_raw_cell("raw \\ \"quoted\" \t tab", id="raw-1", metadata={"format": "text/restructuredtext"}),
    new_code_cell("", id="empty-1"),
]
nb.cells[0].attachments = {"a.png": {"image/png": PNG}}
nb.cells[0].source = "# Analyse\n\nCafé ✓ 🚀 — unicode stays as written.\n\n![a](attachment:a.png)"
with open("fixtures/jupyter.ipynb", "w", encoding="utf-8") as f:
    f.write(nbformat.writes(nb))

plain = json.loads(nbformat.writes(nb))

def dump(value, indent, sort_keys, newline=True):
    text = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False,
                      separators=(",", ": ") if indent is not None else (",", ":"))
    return text + ("\n" if newline else "")

# Jupyter, nbformat 4.4: no cell ids (what notebooks saved before 2021 look like).
old = copy.deepcopy(plain)
old["nbformat_minor"] = 4
for cell in old["cells"]:
    cell.pop("id", None)
with open("fixtures/jupyter-4.4.ipynb", "w", encoding="utf-8") as f:
    f.write(dump(old, 1, True))

# VS Code: sorted keys, 1-space indent, metadata.vscode + orig_nbformat, trailing newline.
vs = copy.deepcopy(plain)
vs["metadata"]["vscode"] = {"interpreter": {"hash": "31f2aee4e71d21fbe5cf8b01ff0e069b9275f58929596ceb00d14d90e3e16cd6"}}
vs["metadata"]["orig_nbformat"] = 4
with open("fixtures/vscode.ipynb", "w", encoding="utf-8") as f:
    f.write(dump(vs, 1, True))

# Colab: 2-space indent, insertion order (nbformat first), no trailing newline, metadata.colab.
colab = {"nbformat": 4, "nbformat_minor": 0, "metadata": {"colab": {"provenance": [], "toc_visible": True},
         "kernelspec": {"name": "python3", "display_name": "Python 3"}, "language_info": {"name": "python"}},
         "cells": []}
for i, cell in enumerate(plain["cells"][:3]):
    c = {"cell_type": cell["cell_type"], "source": cell["source"], "metadata": {"id": f"8H5K2kZ7uvT{i}"}}
    if cell["cell_type"] == "code":
        c["execution_count"] = cell["execution_count"]
        c["outputs"] = cell["outputs"]
    colab["cells"].append(c)
with open("fixtures/colab.ipynb", "w", encoding="utf-8") as f:
    f.write(dump(colab, 2, False, newline=False))

# nteract (runt): 4-space indent, string sources, metadata.runt, trailing newline.
runt = copy.deepcopy(plain)
runt["metadata"]["runt"] = {"schema_version": "1", "env_id": "3e9c1f0a-5d1b-4c5e-9b7e-2f6a8d0c1b2a",
                            "uv": {"dependencies": ["pandas>=2", "matplotlib"], "requires-python": ">=3.10"},
                            "trust": {"signature": "hmac-sha256:00ff", "timestamp": "2026-01-01T00:00:00Z"}}
for cell in runt["cells"]:
    cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
with open("fixtures/nteract.ipynb", "w", encoding="utf-8") as f:
    f.write(dump(runt, 4, True))

# Windows editor: CRLF line endings, tab indent.
with open("fixtures/crlf-tabs.ipynb", "w", encoding="utf-8", newline="") as f:
    f.write(dump(plain, "\t", True).replace("\n", "\r\n"))

# A script's json.dump: compact, one line, no trailing newline.
with open("fixtures/compact.ipynb", "w", encoding="utf-8") as f:
    f.write(dump(plain, None, True, newline=False))
