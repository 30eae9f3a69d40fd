"""Every Python snippet of the README runs as written (with shorter training, so the suite stays fast)."""

import re
from pathlib import Path

import pytest
from PIL import Image
from test_tabular import mixed_table

README = Path(__file__).parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
# Only training lengths are shortened; every call, name and argument stays as the README shows it.
SHORTER = {"steps=2000": "steps=30"}


def test_the_readme_has_python_snippets():
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for long, short in SHORTER.items():
        snippet = snippet.replace(long, short)
    namespace = {"df": mixed_table(200)}  # the table snippet's "your data frame"
    if "./pets" in snippet:  # the conditional snippet's "your folder of class folders"
        for name, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
            (tmp_path / "pets" / name).mkdir(parents=True)
            for i in range(12):
                Image.new("RGB", (80, 70), tuple(c + i for c in colour)).save(tmp_path / "pets" / name / f"{i}.jpg")
    if "TableGAN(" in snippet:
        snippet = snippet.replace("TableGAN(seed=0)", "TableGAN(seed=0, epochs=2)")
    exec(compile(snippet, str(README), "exec"), namespace)
    if "report" in namespace:
        assert {"fd", "precision", "modes", "high_quality"} <= set(namespace["report"])
    if "dogs" in namespace:
        assert namespace["dogs"].shape == (16, 3, 64, 64) and namespace["g"].class_names == ["cat", "dog"]
    if "rows" in namespace:
        assert len(namespace["rows"]) == 1000 and (namespace["rows"]["churned"] == "yes").all()


def test_the_readme_model_tables_are_the_declarations():
    """The block between the markers is what `python -m ganforge.models --readme` writes (run it after changing a
    family's options)."""
    from ganforge.models import README_MARKERS, options_table
    from ganforge.models.__main__ import with_table

    text = README.read_text()
    start, end = README_MARKERS
    assert text.split(start)[1].split(end)[0].strip() == options_table().strip(), \
        "README's model tables are stale: run `python -m ganforge.models --readme`"
    assert with_table(text) == text
