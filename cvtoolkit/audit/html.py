"""``audit.html``: one self-contained page (thumbnails as data URIs, no scripts, all text escaped).

Examples
--------
>>> import tempfile, os
>>> from cvtoolkit.data import load_dataset
>>> from cvtoolkit.audit import run_audit
>>> ds = load_dataset("digits", progress=False)
>>> result = run_audit(ds, label_issues=False, progress=False)
>>> path = os.path.join(tempfile.mkdtemp(), "audit.html")
>>> write_audit_html(result, ds, path)
>>> open(path).read().startswith("<!DOCTYPE html>")
True
"""

from __future__ import annotations

import base64
import html
import os
from typing import Any, Callable

import numpy as np

from cvtoolkit.data.dataset import Dataset

THUMB_SIDE = 96
"""Longest side of a thumbnail, in pixels."""

MAX_GROUPS = 60
MAX_ISSUES = 48

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee}
.group{display:inline-block;border:1px solid #ccc;border-radius:4px;margin:4px;padding:4px;vertical-align:top}
.group.conflict{border-color:#c33;background:#fff3f3}
figure{display:inline-block;margin:2px;text-align:center;font-size:11px;max-width:120px;overflow-wrap:anywhere}
img.thumb{max-width:96px;max-height:96px;image-rendering:auto;display:block;margin:auto}
.bar{background:#4a7ebb;height:12px;display:inline-block}
.note{color:#666;font-size:0.9em}
.unreliable{background:#fff3e0;border-left:4px solid #d9822b;padding:.4em 1em}
"""


def _thumb_uri(image: np.ndarray) -> str:
    import cv2

    from cvtoolkit.audit.hashing import shrink

    img = np.ascontiguousarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    img = shrink(img.astype(np.uint8) if img.dtype != np.uint8 else img, THUMB_SIDE)
    if max(img.shape[:2]) < 48:  # tiny images (digits): enlarge so they can be seen
        scale = max(1, 48 // max(img.shape[:2]))
        img = cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    bgr = img if img.ndim == 2 else img[:, :, ::-1]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        return ""
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _image_getter(dataset: Dataset) -> Callable[[int], np.ndarray | None]:
    def get(i: int) -> np.ndarray | None:
        if dataset.paths is not None:
            from cvtoolkit.data.image_io import UnreadableImageError, read_image

            try:
                return read_image(dataset.paths[i])
            except (UnreadableImageError, OSError):
                pass
        return np.asarray(dataset.images[i]) if i < len(dataset.images) else None

    return get


def _figure(get, index: int, caption: str, alt: str) -> str:
    """A thumbnail with ``caption`` (HTML, already escaped) under it and ``alt`` (plain text, escaped here)."""
    image = get(index)
    uri = _thumb_uri(image) if image is not None else ""
    img = f'<img class="thumb" src="{uri}" alt="{html.escape(alt)}">' if uri else "(unreadable)"
    return f"<figure>{img}<figcaption>{caption}</figcaption></figure>"


def _short(path: str) -> str:
    parts = str(path).replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def _issues_cell(data: dict) -> str:
    model = data["label_model"]
    if not model:
        return "not run"
    if model.get("reliable") is False:
        return f"{model.get('flagged')} flagged, withheld as unreliable (see below)"
    return str(len(data["label_issues"]))


def _bars(labels: list[str], counts: list[int]) -> str:
    top = max(counts) if counts else 1
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{v}</td>"
        f"<td><span class=\"bar\" style=\"width:{int(300 * v / max(top, 1))}px\"></span></td></tr>"
        for k, v in zip(labels, counts))
    return f"<table>{rows}</table>"


def render_audit_html(result: Any, dataset: Dataset) -> str:
    """The page as a string (see :func:`write_audit_html`)."""
    data = result.to_dict()
    e = html.escape
    get = _image_getter(dataset)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>cvtoolkit audit: {e(str(data['source']))}</title><style>{_CSS}</style></head><body>",
           f"<h1>Audit of {e(str(data['source']))}</h1>"]
    summ = data["duplicate_summary"]
    leak = data["leakage"] or {}
    bal = data["class_balance"]
    out.append("<table>")
    for k, v in [("samples", data["samples"]), ("classes", len(data["class_counts"])),
                 ("class balance (max/min)", bal["max_min_ratio"]),
                 ("duplicate pairs (exact or near)", summ["pairs"]),
                 ("duplicate groups (exact / near / across classes)",
                  f"{summ['exact_groups']} / {summ['near_groups']} / {summ['conflicting_groups']}"),
                 ("test images with a duplicate in train",
                  f"{leak.get('test_with_duplicate_in_train')} of {leak.get('n_test')} "
                  f"(split test_size={leak.get('test_size')}, seed={leak.get('seed')})"),
                 ("suspected label issues", _issues_cell(data)),
                 ("skipped files", len(data["skipped"]))]:
        out.append(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>")
    out.append("</table>")
    s = data["settings"]
    out.append(f"<p class=\"note\">Exact: {e(s['exact_hash'])}. Near: ImageHash {e(s['perceptual_hash'])} of the "
               f"image shrunk to {s['hash_side']} px, Hamming distance &le; {s['near_threshold_bits']} of 64 bits.</p>")

    out.append("<h2>Duplicate groups</h2>")
    groups = data["duplicates"]
    if not groups:
        out.append("<p>None found.</p>")
    for g in groups[:MAX_GROUPS]:
        cls = " conflict" if g["conflicting"] else ""
        title = f"{g['kind']}{' &middot; different classes' if g['conflicting'] else ''} &middot; distance &le; {g['max_distance']}"
        figs = "".join(_figure(get, i, f"{e(_short(p))}<br><b>{e(str(c))}</b>", f"{_short(p)}: {c}")
                       for i, p, c in list(zip(g["indices"], g["paths"], g["classes"]))[:8])
        out.append(f'<div class="group{cls}"><div class="note">{title}</div>{figs}</div>')
    if len(groups) > MAX_GROUPS:
        out.append(f"<p class=\"note\">... and {len(groups) - MAX_GROUPS} more groups in audit.json</p>")

    out.append("<h2>Suspected label issues</h2>")
    model = data["label_model"]
    if not model:
        out.append("<p>Not run (--no-label-issues).</p>")
    elif model.get("error"):
        out.append(f"<p>Not run: {e(model['error'])}</p>")
    elif model.get("reliable") is False:
        out.append(f'<p class="unreliable" id="label-issues-unreliable"><b>Unreliable, not listed:</b> '
                   f'{e(model.get("verdict", ""))}</p>')
    else:
        out.append(f"<p class=\"note\">{e(model['features'])} features + logistic regression, {model['folds']}-fold "
                   f"out-of-fold probabilities (accuracy {model['cv_accuracy']}), ranked by cleanlab "
                   f"(score: probability of the given label; lower is more suspicious).</p>")
        for item in data["label_issues"][:MAX_ISSUES]:
            cap = (f"{e(_short(item['path']))}<br>given <b>{e(item['given'])}</b><br>"
                   f"suggested <b>{e(item['suggested'])}</b><br>score {item['score']:.3f}")
            alt = f"{_short(item['path'])}: given {item['given']}, suggested {item['suggested']}"
            out.append(_figure(get, item["index"], cap, alt))

    out.append("<h2>Class counts</h2>")
    out.append(_bars(list(data["class_counts"]), list(data["class_counts"].values())))
    images = data["images"]
    if images.get("longest_side_histogram"):
        hist = images["longest_side_histogram"]
        edges = hist["edges"]
        out.append("<h2>Image sizes (longest side, pixels)</h2>")
        out.append(_bars([f"{edges[i]:.0f}-{edges[i + 1]:.0f}" for i in range(len(hist["counts"]))], hist["counts"]))
        ah = images["aspect_ratio_histogram"]
        ae = ah["edges"]
        out.append("<h2>Aspect ratio (width / height)</h2>")
        out.append(_bars([f"{ae[i]:.2f}-{'inf' if ae[i + 1] is None else f'{ae[i + 1]:.2f}'}"
                          for i in range(len(ah["counts"]))], ah["counts"]))
        out.append(f"<p>grey {images['grey']}, colour {images['colour']}; very small (side &lt; "
                   f"{images['very_small']['min_side']} px): {images['very_small']['count']}; near-constant "
                   f"(blank): {images['blank']['count']}</p>")
        for key in ("very_small", "blank"):
            paths = images[key]["paths"][:20]
            if paths:
                out.append(f"<p class=\"note\">{e(key.replace('_', ' '))}: " + ", ".join(e(p) for p in paths) + "</p>")
    if data["skipped"]:
        out.append("<h2>Skipped files</h2><table>")
        out.extend(f"<tr><td>{e(s['path'])}</td><td>{e(s['reason'])}</td></tr>" for s in data["skipped"][:200])
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_audit_html(result: Any, dataset: Dataset, path: str | os.PathLike) -> None:
    """Write ``audit.html`` atomically: duplicate groups side by side, label issues, histograms."""
    from cvtoolkit.io import write_text_atomic

    write_text_atomic(path, render_audit_html(result, dataset))
