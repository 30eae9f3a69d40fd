"""The README and every page of docs/: each Python snippet runs exactly as written (with shorter training, so the
suite stays fast), in a working folder holding the files it names, and every relative link points at a file that
exists."""

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_tabular import mixed_table

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
IMAGES = ROOT / "docs" / "images.md"  # holds the generated model tables
SNIPPETS = [(page, snippet) for page in PAGES for snippet in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)]
# Only training lengths are shortened; every call, name and argument stays as the page shows it.
# The 64-pixel photo model takes about a second a step on 2 cores: its snippet is checked for shapes and names only.
SHORTER = {"image_size=64, steps=2000": "image_size=64, steps=8", "steps=2000": "steps=30",
           "TableGAN(seed=0": "TableGAN(seed=0, epochs=2"}


def snippet_id(page: Path, snippet: str) -> str:
    """`images.md:61`: the page and the line its snippet starts on."""
    return f"{page.name}:{page.read_text().split(snippet)[0].count(chr(10)) + 1}"


def write_inputs(snippet: str, folder: Path) -> None:
    """The files a snippet reads, as a user would have them in the working folder."""
    if "customers.csv" in snippet:  # a customers table with an id column, every kind of column and churn
        table = mixed_table(200)
        table.insert(0, "id", range(1, len(table) + 1))
        table.to_csv(folder / "customers.csv", index=False)
    if "prices.csv" in snippet:  # one long series with a date column, newest first, as price downloads often are
        days = np.arange(120)
        frame = pd.DataFrame({"Date": pd.date_range("2024-01-01", periods=120).strftime("%Y-%m-%d")[::-1],
                              "open": 100 + np.sin(days / 9.0)[::-1] * 5, "volume": (1000 + days * 3)[::-1]})
        frame.to_csv(folder / "prices.csv", index=False)
    if "./pets" in snippet:  # a folder of class folders
        for name, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
            (folder / "pets" / name).mkdir(parents=True)
            for i in range(12):
                Image.new("RGB", (80, 70), tuple(c + i for c in colour)).save(folder / "pets" / name / f"{i}.jpg")


def test_the_docs_have_python_snippets():
    assert len(SNIPPETS) >= 3
    assert {page.name for page, _ in SNIPPETS} >= {"README.md", "images.md", "tables.md"}


@pytest.mark.auto_precision  # as written, so --precision auto; what is checked holds in bf16 and fp32
@pytest.mark.parametrize(("page", "snippet"), SNIPPETS, ids=[snippet_id(*s) for s in SNIPPETS])
def test_snippet_runs_as_written(page, snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_inputs(snippet, tmp_path)
    for long, short in SHORTER.items():
        snippet = snippet.replace(long, short)
    namespace = {}
    exec(compile(snippet, str(page), "exec"), namespace)
    if "report" in namespace:
        assert {"fd", "precision", "modes", "high_quality"} <= set(namespace["report"])
    if "dogs" in namespace:
        assert namespace["dogs"].shape == (16, 3, 64, 64) and namespace["g"].class_names == ["cat", "dog"]
    if "series" in namespace:  # sampled series come back in the data's units, a window each
        series = namespace["series"]
        assert series.shape == (1000, 24, 2) and 1000 <= float(series[..., 1].mean()) <= 1400
        assert Path("synthetic.csv").read_text().splitlines()[0] == "series,step,open,volume"
    if "rows" in namespace:
        rows = namespace["rows"]
        assert len(rows) == 1000 and (rows["churned"] == "yes").all() and "id" not in rows


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation other than - and _ dropped, spaces as -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {github_anchor(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_points_at_a_file(page):
    """Links and images between the README, docs/ and the repository: a moved page or picture breaks none."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    links = LINK.findall(text)
    assert links or page.name != "README.md"
    broken = []
    for link in links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:  # http(s), mailto: not ours to check
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists():
            broken.append(f"{link}: no {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
        elif parts.fragment and target.suffix == ".md" and parts.fragment not in anchors(target):
            broken.append(f"{link}: no heading #{parts.fragment} in {target.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_model_tables_are_the_declarations():
    """The block between the markers in docs/images.md is what `python -m ganforge.models --readme` writes (run it
    after changing a family's options)."""
    from ganforge.models import README_MARKERS, options_table
    from ganforge.models.__main__ import with_table

    text = IMAGES.read_text()
    start, end = README_MARKERS
    assert text.split(start)[1].split(end)[0].strip() == options_table().strip(), \
        "docs/images.md's model tables are stale: run `python -m ganforge.models --readme docs/images.md`"
    assert with_table(text) == text
    assert start not in (ROOT / "README.md").read_text()  # one copy of the tables, on the images page
