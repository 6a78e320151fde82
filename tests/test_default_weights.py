"""Issue 22, item 2: an honest default verdict.

Default rows download the MobileNet 0.25 ImageNet weights into Keras's cache through
``keras.utils.get_file`` when the network answers (here: a server on 127.0.0.1, never the
internet), say in one line which file to put where when it does not (quickly, never a hang),
and the verdict says so whenever no pretrained row ran.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time

import numpy as np
import pytest

from cvtoolkit.methods import backbone_weights as bw
from cvtoolkit.methods.verdict import NO_PRETRAINED_NOTE, folds_verdict, split_verdict

PAYLOAD = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8  # a small stand-in: only the name matters here


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list = []
    body = PAYLOAD

    def _serve(self, body: bool) -> None:
        type(self).hits.append((self.command, self.path))
        if self.path.rstrip("/").endswith(bw.DEFAULT_DOWNLOAD):
            self.send_response(200)
            self.send_header("Content-Length", str(len(type(self).body)))
            self.end_headers()
            if body:
                self.wfile.write(type(self).body)
        else:
            self.send_error(404)

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self._serve(body=False)

    def do_GET(self):  # noqa: N802
        self._serve(body=True)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.hits = []
    _Handler.body = PAYLOAD
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/mirror/", _Handler.hits
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("CVTOOLKIT_OFFLINE", raising=False)
    return tmp_path / "keras_home" / "models"


@pytest.mark.slow  # imports Keras
def test_the_url_is_keras_own():
    from keras.src.applications import mobilenet  # the public module re-exports only the builders

    assert bw.MOBILENET_BASE_URL == mobilenet.BASE_WEIGHT_PATH
    assert bw.parse_weights_file(bw.DEFAULT_DOWNLOAD).backbone == "mobilenet"


@pytest.mark.slow  # keras.utils.get_file imports Keras (about 3 s)
def test_download_lands_in_keras_cache_and_adds_the_row(server, keras_home, monkeypatch, capfd):
    url, hits = server
    monkeypatch.setenv(bw.WEIGHTS_URL_ENV, url)
    info, line = bw.download_default_weights(timeout=5)
    printed = capfd.readouterr()
    assert "\x1b[" not in printed.out + printed.err  # not a terminal: no progress bar escapes
    target = keras_home / bw.DEFAULT_DOWNLOAD
    assert info is not None and info.path == str(target) and info.alpha == 0.25, line
    assert target.read_bytes() == PAYLOAD and "downloaded" in line and str(target) in line
    assert not list(keras_home.glob("*.part"))  # the temporary name is gone
    assert ("GET", "/mirror/" + bw.DEFAULT_DOWNLOAD) in hits
    # compare's default rows: the file is now in the cache, the mobilenet row joins without a flag
    rows, options, _ = bw.default_backbone_rows()
    assert rows == ["mobilenet+logreg"] and options == {"weights": str(target), "alpha": 0.25}


@pytest.mark.slow  # keras.utils.get_file imports Keras (about 3 s)
def test_compare_job_downloads_for_default_rows_only(server, keras_home, monkeypatch):
    from cvtoolkit.data import load_dataset
    from cvtoolkit.methods.compare_job import CompareJob, _rows

    url, hits = server
    monkeypatch.setenv(bw.WEIGHTS_URL_ENV, url)
    digits = load_dataset("digits")
    said: list[str] = []
    methods, _ = _rows(CompareJob(methods="raw+knn"), ["raw+knn"], digits, said.append)
    assert methods == ["raw+knn"] and not hits  # rows named: nothing downloaded
    methods, options = _rows(CompareJob(offline=True), [], digits, said.append)
    assert "mobilenet+logreg" not in methods and not hits  # --offline: not even a probe
    assert said[-1].startswith("no pretrained backbone row") and bw.DEFAULT_DOWNLOAD in said[-1]
    said.clear()
    methods, options = _rows(CompareJob(), [], digits, said.append)
    assert methods[-1] == "mobilenet+logreg" and options["alpha"] == 0.25
    downloaded = next(i for i, line in enumerate(said) if line.startswith("downloaded "))
    assert "mobilenet+logreg" in said[downloaded + 1]


@pytest.mark.slow  # keras.utils.get_file imports Keras (about 3 s)
def test_a_page_that_is_not_weights_is_refused(server, keras_home, monkeypatch):
    """A captive portal answers 200 with HTML: it must not land in the cache as weights."""
    url, hits = server
    _Handler.body = b"<html><body>Please log in to the hotel Wi-Fi</body></html>"
    monkeypatch.setenv(bw.WEIGHTS_URL_ENV, url)
    info, line = bw.download_default_weights(timeout=5)
    assert info is None and "not an HDF5 weights file" in line and ("GET", "/mirror/" + bw.DEFAULT_DOWNLOAD) in hits
    assert not keras_home.exists() or not list(keras_home.iterdir())
    assert bw.default_backbone_rows()[0] == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_is_one_quick_line(keras_home, monkeypatch):
    monkeypatch.setenv(bw.WEIGHTS_URL_ENV, f"http://127.0.0.1:{_closed_port()}/")
    started = time.perf_counter()
    info, line = bw.download_default_weights(timeout=5)
    assert info is None and time.perf_counter() - started < 3
    assert "\n" not in line and bw.DEFAULT_DOWNLOAD in line and str(keras_home) in line and "--offline" in line
    assert not keras_home.exists() or not list(keras_home.iterdir())


def test_a_server_that_never_answers_does_not_hang(keras_home, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        monkeypatch.setenv(bw.WEIGHTS_URL_ENV, f"http://127.0.0.1:{silent.getsockname()[1]}/")
        started = time.perf_counter()
        info, line = bw.download_default_weights(timeout=0.5)
        assert info is None and time.perf_counter() - started < 3 and "offline" in line
    finally:
        silent.close()


def test_the_suite_is_offline():
    assert bw.offline_requested() and bw.offline_requested(True)


# ----------------------------------------------------------------------------- the verdict's wording
def _rows_and_predictions(deep: str):
    y = np.repeat([0, 1], 20)
    right = np.eye(2)[y]
    wrong = np.eye(2)[1 - y]
    classical = np.where(np.arange(40)[:, None] < 30, right, wrong)
    rows = [{"method": "hog+knn", "deep": False, "accuracy": 0.75},
            {"method": deep, "deep": True, "accuracy": 0.7}]
    deep_p = np.where(np.arange(40)[:, None] < 28, right, wrong)
    return rows, {"hog+knn": classical, deep: deep_p}, y


def test_verdict_says_when_no_pretrained_row_ran():
    rows, predictions, y = _rows_and_predictions("shallownet")
    sentence, detail = split_verdict(rows, predictions, y, sort_metric="accuracy", n_resamples=200)
    assert sentence.startswith("no significant difference") and NO_PRETRAINED_NOTE in sentence
    assert detail["pretrained"] is False and "CNNs from scratch only" in sentence
    rows, predictions, y = _rows_and_predictions("mobilenet+logreg")
    sentence, detail = split_verdict(rows, predictions, y, sort_metric="accuracy", n_resamples=200)
    assert detail["pretrained"] is True and "from scratch" not in sentence
    # a pretrained row that failed does not count
    rows, predictions, y = _rows_and_predictions("shallownet")
    rows.append({"method": "mobilenet+logreg", "deep": True, "error": "no weights"})
    assert "from scratch only" in split_verdict(rows, predictions, y, sort_metric="accuracy", n_resamples=200)[0]


def test_folds_verdict_says_it_too():
    rows = [{"method": "hog+knn", "deep": False, "accuracy": 0.8, "fold_values": {"accuracy": [0.8, 0.82, 0.79]}},
            {"method": "lenet", "deep": True, "accuracy": 0.7, "fold_values": {"accuracy": [0.7, 0.71, 0.69]}}]
    sentence, detail = folds_verdict(rows, sort_metric="accuracy", n_train=60, n_test=20)
    assert detail["pretrained"] is False and NO_PRETRAINED_NOTE in sentence


def test_reports_carry_it_in_the_verdict(tmp_path):
    from types import SimpleNamespace

    from cvtoolkit.evaluate.compare_report import write_compare_reports

    rows, predictions, y = _rows_and_predictions("shallownet")
    sentence, _ = split_verdict(rows, predictions, y, sort_metric="accuracy", n_resamples=200)
    result = SimpleNamespace(rows=rows, verdict=sentence, settings={}, files={}, sort_metric="accuracy")
    write_compare_reports(result, tmp_path)
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    assert "CNNs from scratch only" in md.split("## Verdict", 1)[1].split("##", 1)[0]
    assert "CNNs from scratch only" in html.split('id="verdict"', 1)[1].split("</p>", 1)[0]
