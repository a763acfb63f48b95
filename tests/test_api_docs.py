"""docs/api.md: its Python examples run, in order, as one session from the repository root."""
import re
import tempfile
from pathlib import Path


def test_every_python_example_in_the_api_docs_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # what the examples write goes here
    text = Path("docs/api.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) >= 8
    session = {}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/api.md, example {number}", "exec"), session)
    assert "fixed E0301: use padding=1" in capsys.readouterr().out
