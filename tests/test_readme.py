"""The README's Python blocks run as written (in order, one namespace), so the front door cannot rot."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), ns)  # noqa: S102
    assert ns["z"].shape == (3, 576)  # as the README says: (8 time bins + the token max) x width 64
    assert ns["hits"].ids.shape == (1, 2) and ns["hits"].ids[0, 0] == "a"
    assert (tmp_path / "runs" / "x" / "encoder" / "model.safetensors").is_file()
