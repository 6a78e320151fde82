"""The self-contained HTML report (cvtoolkit.evaluate.html_report).

Two kinds of checks: a pure-Python parse of the file (every image is an
embedded PNG data URI, nothing external, text escaped), and a real browser,
headless Chromium, which must render the table and decode the images.
README's test command installs Chromium (``scripts/install_test_system_deps.sh``); when it is missing
these tests fail rather than skip.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from cvtoolkit.evaluate import ClassificationReport, Leaderboard, write_html_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SWATCH = 120  # side, in pixels, of the solid-colour test images


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Collector:
    parser = _Collector()
    parser.feed(text)
    parser.close()
    return parser


def _swatch(path, rgb) -> None:
    from PIL import Image

    Image.new("RGB", (SWATCH, SWATCH), rgb).save(path, format="PNG")


@pytest.fixture
def report_file(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(24) % 3
    proba = rng.dirichlet(np.ones(3), size=24)
    proba[np.arange(24), y] += 0.6
    cm_path = tmp_path / "figures" / "cm_shallownet.png"
    ClassificationReport.from_predictions(y, proba, ["cat", "dog", "panda"], method="shallownet") \
        .save_confusion_matrix(cm_path)
    _swatch(tmp_path / "figures" / "red.png", (255, 0, 0))
    _swatch(tmp_path / "figures" / "green.png", (0, 255, 0))
    board = Leaderboard()
    board.add({"method": "hog+linear_svm", "accuracy": 0.71, "f1_macro": 0.70, "fit_seconds": 1.5,
               "predict_ms_per_image": 0.2, "log_loss": 0.8})
    board.add({"method": "shallownet", "accuracy": 0.875, "f1_macro": 0.86, "fit_seconds": 12.0,
               "predict_ms_per_image": 1.1, "log_loss": 0.4})
    board.add({"method": "vgg16<script>alert(1)</script>", "error": "MissingDownloadError: put weights in ~/.keras & retry"})
    path = tmp_path / "out" / "report.html"
    write_html_report(
        path,
        title="animals <3 classes> & more",
        settings={"dataset": "datasets/animals", "seed": 42, "image size": [32, 32], "test size": 0.25},
        leaderboard=board,
        confusion_pngs={"hog+linear_svm": str(tmp_path / "figures" / "red.png"), "shallownet": str(cm_path)},
        curves_pngs={"shallownet": str(tmp_path / "figures" / "green.png")},
        top_losses_pngs={"shallownet": str(cm_path)},
        notes="Timings on a loaded machine <b>not</b> comparable.",
    )
    return path


# ---------------------------------------------------------------- pure Python


def test_every_image_is_an_embedded_png(report_file):
    doc = _parse(report_file.read_text(encoding="utf-8"))
    images = [attrs for tag, attrs in doc.tags if tag == "img"]
    assert len(images) == 4  # 2 confusion matrices, 1 curve, 1 top-losses grid
    prefix = "data:image/png;base64,"
    for attrs in images:
        src = attrs["src"]
        assert src.startswith(prefix)
        data = base64.b64decode(src[len(prefix):], validate=True)
        assert data[:8] == PNG_MAGIC
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im.load()
            assert min(im.size) >= SWATCH
        assert attrs.get("alt")


def test_nothing_external_and_text_escaped(report_file):
    text = report_file.read_text(encoding="utf-8")
    doc = _parse(text)
    tags = [tag for tag, _ in doc.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    for tag, attrs in doc.tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith("data:"), (tag, attrs[name][:40])
    # the hostile method name is text, not markup
    assert "vgg16<script>alert(1)</script>" in "".join(doc.text)
    assert "&lt;script&gt;" in text
    assert "animals &lt;3 classes&gt; &amp; more" in text
    assert "Timings on a loaded machine <b>not</b> comparable." in "".join(doc.text)


def test_leaderboard_and_settings_tables(report_file):
    doc = _parse(report_file.read_text(encoding="utf-8"))
    rows = doc.rows
    settings = {r[0]: r[1] for r in rows if len(r) == 2}
    assert settings == {"dataset": "datasets/animals", "seed": "42", "image size": "[32, 32]", "test size": "0.25"}
    header = next(r for r in rows if r[:2] == ["rank", "method"])
    # the one leaderboard renderer (issue 21): compare's columns, the sort metric marked
    assert header[2:4] == ["accuracy (sort)", "macro F1"] and "log loss" in header and "predict ms/img" in header
    board = [r for r in rows if len(r) == len(header) and r is not header]
    assert [r[1] for r in board] == ["shallownet", "hog+linear_svm", "vgg16<script>alert(1)</script>"]
    assert board[0][:3] == ["1", "shallownet", "0.8750"]
    assert board[2][0] == "-" and board[2][-1].startswith("error: MissingDownloadError")


def test_missing_image_is_noted_not_fatal(tmp_path):
    path = tmp_path / "r.html"
    write_html_report(path, title="t", settings={}, leaderboard=Leaderboard(),
                      confusion_pngs={"a": str(tmp_path / "nope.png")})
    text = path.read_text(encoding="utf-8")
    assert "image not available" in text and "<img" not in text
    assert os.listdir(tmp_path) == ["r.html"]


def test_relative_paths_resolved_from_report_folder(tmp_path, monkeypatch):
    (tmp_path / "run" / "cm").mkdir(parents=True)
    _swatch(tmp_path / "run" / "cm" / "a.png", (0, 0, 255))
    monkeypatch.chdir(tmp_path)  # "cm/a.png" does not exist from here
    write_html_report(tmp_path / "run" / "r.html", title="t", settings={}, leaderboard=Leaderboard(),
                      confusion_pngs={"a": "cm/a.png"})
    doc = _parse((tmp_path / "run" / "r.html").read_text(encoding="utf-8"))
    assert [a["src"][:22] for t, a in doc.tags if t == "img"] == ["data:image/png;base64,"]


# ---------------------------------------------------------------- headless Chromium


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found and os.path.exists("/usr/bin/chromium"):
        found = "/usr/bin/chromium"
    if not found:
        pytest.fail("headless Chromium is required for this test: bash scripts/install_test_system_deps.sh (README command (b) runs it)")
    return found


def _run_chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--user-data-dir={profile}", *args,
    ]
    env = dict(os.environ, HOME=str(tmp_path))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)


@pytest.mark.slow  # headless Chromium
def test_chromium_renders_tables(report_file, tmp_path):
    done = _run_chromium(tmp_path, "--dump-dom", report_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _parse(done.stdout)
    flat = [r for r in dom.rows if r]
    methods = [r[1] for r in flat if len(r) > 2 and r[0] in ("1", "2", "-")]
    assert methods == ["shallownet", "hog+linear_svm", "vgg16<script>alert(1)</script>"]
    imgs = [a for t, a in dom.tags if t == "img"]
    assert len(imgs) == 4 and all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    assert "script" not in [t for t, _ in dom.tags]


@pytest.mark.slow  # headless Chromium
def test_chromium_decodes_embedded_images(report_file, tmp_path):
    shot = tmp_path / "shot.png"
    done = _run_chromium(tmp_path, "--window-size=1000,2000", f"--screenshot={shot}", report_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == PNG_MAGIC
    import matplotlib.image as mpimg

    pixels = (mpimg.imread(shot)[..., :3] * 255).round().astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    red = int(((r > 240) & (g < 15) & (b < 15)).sum())
    green = int(((g > 240) & (r < 15) & (b < 15)).sum())
    # the solid swatches can only appear if Chromium decoded the data URIs,
    # and they are drawn at their natural size
    assert red >= 0.9 * SWATCH * SWATCH, red
    assert green >= 0.9 * SWATCH * SWATCH, green
    # the page is not blank: text and the confusion matrix add many colours
    packed = (r << 16) | (g << 8) | b
    assert len(np.unique(packed[::2, ::2])) > 50
