"""Doctest collection: ``python -m pytest`` runs the docstring examples of ``cvtoolkit`` too.

``pyproject.toml`` puts ``cvtoolkit`` in ``testpaths`` with ``--doctest-modules``;
the modules listed here are left out because their examples build Keras models
(importing TensorFlow costs seconds; ``tests/`` covers them) or because
importing them runs something (``__main__``).
"""

collect_ignore = [
    "cvtoolkit/__main__.py",
    "cvtoolkit/nn",
    "cvtoolkit/train",
    "cvtoolkit/transfer",
    "cvtoolkit/evaluate/gradcam.py",
    "cvtoolkit/inference/ensemble.py",
    "cvtoolkit/inference/tta.py",
]
