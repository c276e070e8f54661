"""``python -m reports --html``: one self-contained page that renders in a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from reports.html import embed_images, slug, write_html  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def picture(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [2, 0, 1], color="red", lw=6)
    fig.savefig(path)
    plt.close(fig)
    return path


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    out = tmp_path / "generated"
    (out / "extensions").mkdir(parents=True)
    picture(out / "extensions" / "distance_curves.png")
    (out / "extensions.md").write_text(
        "# Extension studies\n\n- [Content-lookup distance](#content-lookup-distance)\n\n"
        "## Content-lookup distance\n\n| arm | seeds |\n|---|---|\n| cosine | 5 |\n\n"
        "**Finding.** Not separated.\n\n![curves](extensions/distance_curves.png)\n"
        "![gone](extensions/missing.png)\n")
    (out / "bench.md").write_text("# Speed\n\n| shape | ratio |\n|---|---|\n| copy | 17.9x |\n")
    return out


def test_page_is_self_contained(generated: Path):
    page = write_html(generated).read_text()
    assert "<table>" in page and "cosine" in page and "17.9x" in page
    # nothing the browser would fetch: every image inline, no external style, script or frame
    srcs = re.findall(r'\bsrc="([^"]*)"', page)
    assert len(srcs) == 2 and all(s.startswith("data:") for s in srcs)
    assert srcs[0].startswith("data:image/png;base64,") and len(srcs[0]) > 1000
    assert not re.search(r"<(link|script|iframe)\b", page)
    assert not re.search(r"url\(", page)
    # every in-page link has its target
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    targets = re.findall(r'href="#([^"]+)"', page)
    assert targets and set(targets) <= ids
    assert {"extensions", "bench"} <= ids


def test_embedding_keeps_data_uris_and_never_links_a_missing_file(tmp_path: Path):
    fragment = '<img alt="a" src="data:image/png;base64,AAAA"><img alt="b" src="nope.png">'
    out = embed_images(fragment, tmp_path)
    assert 'src="data:image/png;base64,AAAA"' in out and "nope.png" not in out
    assert slug("Content-lookup distance") == "content-lookup-distance"


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.mark.skipif(browser() is None, reason="no Chromium/Chrome installed (apt install chromium)")
def test_page_renders_in_a_headless_browser(generated: Path, tmp_path: Path):
    page = write_html(generated)
    flags = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-quic", f"--user-data-dir={tmp_path / 'profile'}",
             "--host-resolver-rules=MAP * ~NOTFOUND"]  # any network fetch would fail
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "Content-lookup distance" in dom and "17.9x" in dom and "<table>" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file()
    image = plt.imread(shot)  # (H, W, 3|4) floats
    red = (image[..., 0] > 0.8) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)
    assert red.sum() > 50, "the embedded picture (a thick red line) was not drawn"
