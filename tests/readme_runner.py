"""Runs the README's code blocks as a new user pastes them, in order, in one working directory:
``python tests/readme_runner.py README.md WORKDIR``. Used by ``tests/test_readme.py``.

- ```` ```python ```` blocks: each in a fresh interpreter (``python -c``), as pasted.
- ```` ```bash ```` blocks: with ``bash -e``; the set-up steps (``python3.11 -m venv .venv``, ``pip
  install``) are left out, since the test runs inside an installed environment, and ``.venv/bin/``
  means this interpreter's ``bin`` directory. A block left with no command is reported as set-up.
- A block right after the line ``<!-- readme-test: skip (REASON) -->`` is not run (a reference
  listing, a cluster, a long benchmark); its reason is printed.

Prints one line per block (``snippet N, README.md:LINE, section S, LANG: ok|skipped|set-up``) and
stops at the first failure with its output, exit status 1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.+?)\)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
SETUP = re.compile(r"^(python3(\.11)?\s+-m\s+venv\b|(\.venv/bin/)?pip\s+install\b)")
TIMEOUT_S = 900


@dataclass(frozen=True)
class Snippet:
    number: int
    line: int
    section: str
    lang: str
    code: str
    skip: str | None

    def where(self) -> str:
        return f"snippet {self.number}, README.md:{self.line}, section '{self.section}', {self.lang}"


def extract(text: str) -> list[Snippet]:
    """The python and bash blocks of ``text`` in order, with their first line (1-based), the
    section heading above them and the skip reason of a marker right before them."""
    snippets, lines = [], text.splitlines()
    section, skip, i = "", None, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        marker = SKIP.search(line)
        if marker:
            skip = marker.group(1)
        fence = FENCE.match(line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) in ("python", "bash"):
                snippets.append(Snippet(len(snippets) + 1, i + 2, section, fence.group(1),
                                        "\n".join(lines[i + 1:end]) + "\n", skip))
            skip, i = None, end
        elif line.strip() and not marker:
            skip = None
        i += 1
    return snippets


def bash_commands(code: str, bin_dir: str) -> str:
    """The block without its set-up steps, ``.venv/bin/`` pointing at ``bin_dir``."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)  # continuation lines
    out = []
    for line in joined.splitlines():
        steps = [s.strip() for s in line.split("&&")]
        kept = [s for s in steps if s and not SETUP.match(s)]
        if kept and not kept[0].startswith("#"):
            out.append(" && ".join(kept))
    return "\n".join(out).replace(".venv/bin/", bin_dir.rstrip("/") + "/")


def run(readme: Path, workdir: Path) -> int:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    for snippet in extract(readme.read_text()):
        if snippet.skip:
            print(f"{snippet.where()}: skipped ({snippet.skip})", flush=True)
            continue
        if snippet.lang == "python":
            argv = [sys.executable, "-c", snippet.code]
        else:
            script = bash_commands(snippet.code, bin_dir)
            if not script:
                print(f"{snippet.where()}: set-up only, not run", flush=True)
                continue
            argv = ["bash", "-e", "-o", "pipefail", "-c", script]
        start = time.monotonic()
        try:
            done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                                  timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"{snippet.where()}: FAILED, still running after {TIMEOUT_S} s", flush=True)
            return 1
        if done.returncode != 0:
            print(f"{snippet.where()}: FAILED with exit status {done.returncode}\n--- code:\n"
                  f"{argv[-1]}--- stdout:\n{done.stdout[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}",
                  flush=True)
            return 1
        print(f"{snippet.where()}: ok ({time.monotonic() - start:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), Path(sys.argv[2])))
