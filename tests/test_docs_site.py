"""The built documentation site: no raw Sphinx roles, no diagram that needs a CDN, API pages that lead with
the public names, and pictures made from real data by a script in the repository (issue 13, items 10-13)."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_no_raw_sphinx_roles_in_the_site(site):
    role = re.compile(r":(class|func|meth|attr|mod|data|obj|exc):`")
    found = {str(p.relative_to(site)): len(role.findall(p.read_text(encoding="utf-8")))
             for p in site.rglob("*.html")}
    assert sum(found.values()) == 0, {k: v for k, v in found.items() if v}
    # and none left in the sources either
    src = [str(p) for p in (ROOT / "slimkit").glob("*.py") if role.search(p.read_text(encoding="utf-8"))]
    assert not src


def test_method_diagram_is_a_local_svg_not_mermaid(site):
    page = (site / "concepts" / "method" / "index.html").read_text(encoding="utf-8")
    assert "mermaid" not in page and "cdn" not in page.lower()
    assert "images/slim-method.svg" in page
    svg = (site / "images" / "slim-method.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "http" not in svg.replace(
        "http://www.w3.org", "").replace("http://purl.org", "").replace("http://creativecommons.org", "")


@pytest.mark.parametrize("figure, name", [("method", "slim-method.svg"), ("architecture", "architecture.svg")])
def test_diagram_scripts_are_deterministic(tmp_path, figure, name):
    r = subprocess.run([sys.executable, "scripts/make_doc_figures.py", "--only", figure, "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / name).read_bytes() == (ROOT / "docs" / "images" / name).read_bytes()


def test_architecture_page_shows_the_package_map(site):
    page = (site / "concepts" / "architecture" / "index.html").read_text(encoding="utf-8")
    assert "images/architecture.svg" in page and "mermaid" not in page
    for name in ("slimkit.data", "slimkit.train", "slimkit.eval", "slimkit.retrieval", "test_architecture.py"):
        assert name in page


def test_api_pages_lead_with_public_names(site):
    model = (site / "api" / "model" / "index.html").read_text(encoding="utf-8")
    ids = re.findall(r'<h[23] id="([^"]+)"', model)
    assert ids[:2] == ["slimkit.model", "slimkit.model.SLiMEncoder"]
    assert not any(i.endswith((".Block", ".Attention")) for i in ids)
    trainer = re.findall(r'<h[23] id="([^"]+)"', (site / "api" / "trainer" / "index.html").read_text())
    assert trainer[1] == "slimkit.train.Trainer"
    top = (site / "api" / "slimkit" / "index.html").read_text(encoding="utf-8")
    for name in ("SLiMEncoder", "SLiMConfig", "Trainer", "Retriever", "list_pretrained"):
        assert f"<code>{name}</code>" in top
    assert "Block" not in top


def test_quickstart_and_method_show_real_nwucla_pictures(site):
    quick = (site / "quickstart" / "index.html").read_text(encoding="utf-8")
    method = (site / "concepts" / "method" / "index.html").read_text(encoding="utf-8")
    for img in ("nwucla-retrieval.png", "nwucla-skeletons.png"):
        assert img in quick and (site / "images" / img).stat().st_size > 10_000
    assert "nwucla-skeletons.png" in method
    assert "quickstart-grid.png" not in quick  # the synthetic picture is gone
    assert "scripts/make_doc_figures.py" in quick
