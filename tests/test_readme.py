"""The README's snippets run as pasted, in order (``tests/readme_runner.py``); the extraction itself
is checked on a small document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.readme_runner import bash_commands, extract

ROOT = Path(__file__).resolve().parents[1]


def test_extraction_keeps_order_lines_sections_and_skip_markers():
    text = ("# Top\n\n```bash\necho a\n```\n\n## Second\n<!-- readme-test: skip (a cluster) -->\n"
            "```bash\nray start\n```\n\ntext\n```python\nprint(1)\n```\n```text\nnot code\n```\n")
    first, second, third = extract(text)
    assert (first.line, first.section, first.lang, first.code, first.skip) == (
        4, "Top", "bash", "echo a\n", None)
    assert (second.section, second.skip) == ("Second", "a cluster")
    assert (third.number, third.lang, third.code, third.skip) == (3, "python", "print(1)\n", None)


def test_set_up_steps_are_left_out_and_the_venv_is_this_one():
    code = ("python3.11 -m venv .venv && .venv/bin/pip install -e '.[torch]'   # torch\n"
            ".venv/bin/scenesim render --recipe movi-a \\\n    --out data/\n# a comment\n")
    assert bash_commands(code, "/env/bin") == "/env/bin/scenesim render --recipe movi-a --out data/"
    assert bash_commands("python3.11 -m venv .venv && .venv/bin/pip install -e .\n", "/b") == ""


@pytest.mark.slow
def test_every_readme_snippet_runs_as_pasted_in_order(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "readme_runner.py"), str(ROOT / "README.md"),
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout
