"""The Python code blocks of README.md and docs/python.md run as written.

Each document's ```python blocks run in order in one namespace (a later block may use what an
earlier one made), in a fresh folder, with top-level ``await`` allowed. Two HTML comments,
invisible when the document is rendered, on the line before a block, change that:
``<!-- doctest: skip -->`` (the block is not run: it needs hardware, a terminal or the
network) and ``<!-- doctest-setup: CODE -->`` (one line of Python run first, such as making
the file the block reads).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "python.md"]

SKIP = "<!-- doctest: skip -->"
SETUP = "<!-- doctest-setup:"


def python_blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line number, setup code, block code) of every block to run."""
    lines = path.read_text().splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```python":
            i += 1
            continue
        before = lines[i - 1].strip() if i > 0 else ""
        start = i + 1
        end = start
        while lines[end].strip() != "```":
            end += 1
        code = "\n".join(lines[start:end]) + "\n"
        i = end + 1
        if before == SKIP:
            continue
        setup = ""
        if before.startswith(SETUP) and before.endswith("-->"):
            setup = before[len(SETUP) : -3].strip()
        out.append((start + 1, setup, code))
    return out


def run_block(code: str, where: str, ns: dict[str, Any]) -> None:
    compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    r = eval(compiled, ns)
    if inspect.iscoroutine(r):
        asyncio.run(r)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_python_blocks_run_as_written(
    doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(doc)
    assert blocks, f"no Python block found in {doc}"
    ns: dict[str, Any] = {"__name__": "__doc_example__"}
    for line, setup, code in blocks:
        if setup:
            exec(setup, ns)
        run_block(code, f"{doc.name}:{line}", ns)


def test_the_extractor_sees_skips_and_setups(tmp_path: Path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text(
        "text\n```python\na = 1\n```\n"
        f"{SKIP}\n```python\nraise SystemExit\n```\n"
        f"{SETUP} b = 2 -->\n```python\nassert a + b == 3\n```\n"
    )
    got = python_blocks(doc)
    assert [(s, c) for _, s, c in got] == [("", "a = 1\n"), ("b = 2", "assert a + b == 3\n")]
