"""The README's quick start is the contract: CI runs exactly its commands, and its Python example runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_exactly_the_quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    install, tests = bash_blocks(quick)[:2]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert install in ci_lines and tests in ci_lines
    assert ci_lines.index(install) < ci_lines.index(tests)
    assert "latentforge demo" in install and "pytest" in tests
    assert "torch==2.13.0" in install  # the CPU build on this kind of machine, not the newest CUDA one
    assert "[test]" not in install and "[test]" in tests  # the main job installs its own dependencies only


def test_readme_python_example_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert 0 < float(printed[0]) < 0.08  # test MSE in scaled units; predicting the mean gives about 0.14
    assert printed[1] == "(1797, 3)"
