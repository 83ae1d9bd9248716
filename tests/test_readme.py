"""The README's code runs as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    assert "gradcheck passed" in capsys.readouterr().out


def test_readme_set_up_commands():
    text = README.read_text()
    assert "pip install '.[test]' && python -m pytest -n 2 --dist loadscope" in text
    assert "python -m minircan.train --tiny" in text
