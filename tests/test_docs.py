"""The docs cannot rot: every ```python block of every docs page runs, page by page, in order.

Conventions for page authors:

* the blocks of one page run in order in one namespace, in a fresh temporary folder, on a CPU, offline;
* a block preceded by the line ``<!-- skip -->`` is not run (keep these few: uploads to the Hub, GPU-only or
  multi-process code); write ```bash for shell commands;
* a block that only includes a file (``--8<-- "examples/x.py"``) is not run here
  (tests/test_examples.py runs the examples).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)[^\n]*$")
SKIP = "<!-- skip -->"


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(line number, code, skipped)`` of each python block of a markdown page."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m["indent"], m["fence"], m["lang"].lower()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in ("python", "py"):
            continue
        prev = next((ln.strip() for ln in reversed(lines[: start - 1]) if ln.strip()), "")
        code = "\n".join(body)
        snippet_only = all(ln.strip().startswith("--8<--") or not ln.strip() for ln in body)
        out.append((start + 1, code, prev == SKIP or snippet_only))
    return out


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if python_blocks(p.read_text(encoding="utf-8")))


def test_block_extraction():
    page = (
        "text\n\n<!-- skip -->\n```python\nupload()\n```\n\n```python\nx = 1\n```\n```bash\nls\n```\n"
        '```python\n--8<-- "examples/quickstart.py"\n```\n'
    )
    blocks = python_blocks(page)
    assert [(code, skipped) for _, code, skipped in blocks] == [
        ("upload()", True),
        ("x = 1", False),
        ('--8<-- "examples/quickstart.py"', True),
    ]


def test_docs_have_runnable_code():
    assert len(pages()) >= 5, [str(p) for p in pages()]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_code_runs(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    rel = page.relative_to(ROOT)
    namespace = {"__name__": "__docs__"}
    ran = 0
    for line, code, skipped in python_blocks(page.read_text(encoding="utf-8")):
        if skipped:
            continue
        try:
            exec(compile(code, f"{rel}:{line}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{rel}, block at line {line} failed: {type(e).__name__}: {e}") from e
        ran += 1
    assert ran > 0, f"{rel}: every python block is skipped"
