"""cvtoolkit from Python: the front door, as short as the command line::

    import cvtoolkit as cvt
    result = cvt.compare("path/to/folder", image_size=64, methods=["hog+linear_svm", "raw+knn"])
    result.verdict, result.leaderboard       # a sentence, a pandas DataFrame

(the README's "From Python" example runs in ``tests/test_api.py``).

- :func:`compare`: the ``cvtoolkit compare`` workflow
  (:class:`cvtoolkit.methods.compare_job.CompareJob`,
  :func:`~cvtoolkit.methods.compare_job.run_compare_job`), returning a
  :class:`Comparison`: ``.verdict``, ``.leaderboard`` (a pandas
  ``DataFrame``), ``.board`` (the :class:`~cvtoolkit.evaluate.Leaderboard`),
  ``.predictions``, ``.best_pipeline``, and an HTML view in notebooks.
- :func:`audit`: duplicates, train/test leakage and label issues
  (:func:`cvtoolkit.audit.run_audit`).
- :func:`load_dataset` (:func:`cvtoolkit.data.load_dataset`) and
  :func:`load_model` (a saved pipeline folder or ``.keras`` file,
  :func:`cvtoolkit.methods.artifact.load_pipeline`).

Nothing here prints: progress lines go to this package's logger, bars to
stderr only with ``progress=True``. ``import cvtoolkit`` loads this module
on first use of one of these names, and the first of them quiets
TensorFlow's native start-up lines as the command line does
(:mod:`cvtoolkit._quiet`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from cvtoolkit._quiet import quiet_tensorflow_import

logger = logging.getLogger("cvtoolkit")

__all__ = ["Comparison", "audit", "compare", "load_dataset", "load_model"]


def _quiet() -> None:
    """TensorFlow's start-up lines off the terminal, OpenMP waiting passively: as the CLI does."""
    from cvtoolkit.parallel import native_thread_defaults

    quiet_tensorflow_import()
    native_thread_defaults()


def compare(
    dataset: str | os.PathLike,
    *,
    methods: Sequence[str] | str | None = None,
    image_size: int | None = None,
    test_size: float | int | str = "auto",
    seed: int = 42,
    metric: str | None = None,
    folds: int | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = False,
    **options: Any,
) -> Comparison:
    """Rank classical pipelines and CNNs on one dataset: ``cvtoolkit compare`` from Python.

    Parameters
    ----------
    dataset : str or path
        A class-per-folder directory, an ``.h5`` store, ``"digits"`` (embedded),
        a Keras dataset name, an ``.npz`` or a pixel CSV.
    methods : list of str or str, optional
        Rows such as ``["hog+linear_svm", "raw+knn", "shallownet"]`` (or one
        comma-separated string); ``None``: the default rows.
    image_size : int, optional
        Load the images at ``N x N`` (default as the command: 32 for folders
        and ``digits``, a backbone's own size for backbone rows).
    test_size, seed : optional
        The one split every row uses (``"auto"``: the dataset's official
        test part when it has one, else a seeded stratified quarter).
    metric : {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"}, optional
        Ranking metric (default: from the class balance).
    folds : int, optional
        Repeated stratified K-fold instead of one split.
    out : path, optional
        The report folder (``leaderboard.json``, ``report.html``, ...);
        default ``runs/compare-<dataset>``, as the command.
    progress : bool
        Progress bars (stderr) and CNN epoch lines.
    **options
        Any other field of :class:`~cvtoolkit.methods.compare_job.CompareJob`,
        by the command's flag names: ``epochs``, ``batch_size``, ``search``,
        ``n_jobs``, ``dedupe``, ``weights``, ``alpha``, ``cache_dir``,
        ``no_cache``, ``overwrite``, ``learning_curve``, ``repeats``,
        ``max_pixels`` (default Pillow's limit; ``None``: no limit), ...

    Returns
    -------
    Comparison

    Raises
    ------
    TypeError
        An option that is not a field of the job.
    CvToolkitError
        A bad dataset, row name or output folder (one line, before any fit).

    Examples
    --------
    Two fast rows on the embedded digits (about ten seconds)::

        import cvtoolkit as cvt
        result = cvt.compare("digits", methods=["raw+logreg", "raw+knn"], out="runs/digits-py")
        result.best_method              # 'raw+knn'
        result.leaderboard              # pandas DataFrame, indexed by rank
    """
    _quiet()
    from cvtoolkit.data.image_io import DEFAULT_MAX_PIXELS
    from cvtoolkit.methods.compare_job import CompareJob, run_compare_job

    fields = {f.name for f in dataclasses.fields(CompareJob)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"compare() got unexpected option(s) {', '.join(unknown)}; "
                        f"valid options: {', '.join(sorted(fields - {'dataset', 'methods', 'quiet'}))}")
    if methods is not None and not isinstance(methods, str):
        methods = ",".join(methods)
    options.setdefault("max_pixels", DEFAULT_MAX_PIXELS)
    if "keep" in fields and not folds:  # the engine keeps the fitted best row (compare --keep best)
        options.setdefault("keep", "best")
    job = CompareJob(dataset=os.fspath(dataset), methods=methods, image_size=image_size, test_size=test_size,
                     seed=seed, metric=metric, folds=folds, out=None if out is None else os.fspath(out),
                     quiet=not progress, **options)
    from cvtoolkit.io.outputs import locked_output
    from cvtoolkit.methods.row_store import is_compare_output

    # checked and locked before any work, as the command does: a second run on the same out stops here
    with locked_output(job.out_dir(), kind="folder", overwrite=job.overwrite, ours=is_compare_output,
                       what="a compare report"):
        outcome = run_compare_job(job, say=logger.info)
    return Comparison(job, outcome)


class Comparison:
    """What :func:`compare` found: the verdict, the leaderboard, the predictions and the best pipeline.

    Attributes
    ----------
    job : CompareJob
        The options it ran with.
    outcome : CompareJobResult
        Everything :func:`~cvtoolkit.methods.compare_job.run_compare_job` returned
        (``outcome.result`` is the :class:`~cvtoolkit.methods.compare_outputs.CompareResult`).
    """

    def __init__(self, job: Any, outcome: Any):
        self.job = job
        self.outcome = outcome

    # ------------------------------------------------------------ what it found
    @property
    def result(self) -> Any:
        """The engine's :class:`~cvtoolkit.methods.compare_outputs.CompareResult`."""
        return self.outcome.result

    @property
    def verdict(self) -> str:
        """One sentence: the best classical row against the best deep row, with the test's outcome."""
        return self.result.verdict

    @property
    def verdict_detail(self) -> dict:
        return self.result.verdict_detail

    @property
    def board(self):
        """The :class:`~cvtoolkit.evaluate.Leaderboard` (``print(result.board)`` shows the table)."""
        if self.result.board is not None:
            return self.result.board
        from cvtoolkit.evaluate import Leaderboard

        return Leaderboard(self.result.rows, sort_metric=self.result.sort_metric)

    @property
    def leaderboard(self):
        """The leaderboard as a pandas ``DataFrame`` indexed by rank (every field of every row)."""
        return self.to_pandas()

    def to_pandas(self):
        """The leaderboard as a pandas ``DataFrame`` (:meth:`cvtoolkit.evaluate.Leaderboard.to_pandas`)."""
        return self.board.to_pandas()

    @property
    def rows(self) -> list[dict]:
        """The leaderboard rows, best first (plain dicts)."""
        return self.board.sorted_rows()

    @property
    def predictions(self) -> dict:
        """``{row: (n_test, n_classes) probabilities}`` on the test part (one split; empty with ``folds``)."""
        return self.result.predictions

    @property
    def test(self):
        """The test part (a :class:`~cvtoolkit.data.Dataset`), whose labels the predictions score."""
        return self.result.test

    @property
    def dataset(self):
        """The loaded :class:`~cvtoolkit.data.Dataset`."""
        return self.outcome.dataset

    @property
    def out(self) -> Path:
        """The report folder."""
        return self.outcome.out

    @property
    def files(self) -> dict:
        """``{name: path}`` of what was written (``leaderboard.json``, ``report.html``, ...)."""
        return self.result.files

    @property
    def settings(self) -> dict:
        """``settings.json``: split, seed, metric and why, leakage, ..."""
        return self.result.settings

    @property
    def failed(self) -> list[dict]:
        """Rows that failed (each with its ``error``)."""
        return self.result.failed

    @property
    def best_method(self) -> str | None:
        """The top row's name (``None`` when every row failed)."""
        best = self.board.best()
        return None if best is None else best["method"]

    @functools.cached_property
    def best_pipeline(self) -> Any:
        """The best row's fitted estimator (``predict_proba(images)``, ``classes_``), on the same training part.

        When the engine keeps fitted rows (``compare --keep best``), it is the
        one that was scored, loaded from ``out/models/<row>``; otherwise the
        best row is fitted again here on the same training part (same split,
        seed, options and chosen hyper-parameters; with ``folds``, on every
        sample), so a CNN row costs its training time once more. Backbone
        rows take images at the backbone's size (``estimator`` of
        :func:`load_model` on ``out/models`` does the resizing for you).

        Raises
        ------
        ModelError
            Every row failed.
        """
        from cvtoolkit.errors import ModelError

        name = self.best_method
        if name is None:
            raise ModelError(f"{self.out}: every row failed, so there is no best pipeline; see .failed")
        kept = (getattr(self.outcome, "models", None) or {}).get(name)
        if kept:
            from cvtoolkit.methods.artifact import load_pipeline

            return load_pipeline(kept).estimator
        return _refit(self, name)

    # ------------------------------------------------------------ display
    def __repr__(self) -> str:
        best = self.board.best()
        head = f"Comparison({self.job.dataset!r}, {len(self.result.rows)} rows"
        if best is not None:
            metric = self.result.sort_metric
            value = best.get(metric)
            head += f", best {best['method']} {metric} {value:.4f}" if isinstance(value, float) else ""
        return head + f")\nverdict: {self.verdict}\n" + self.board.to_text().rstrip("\n")

    def _repr_html_(self) -> str:
        from html import escape

        return (f'<div class="cvtoolkit-comparison"><p><b>{escape(str(self.job.dataset))}</b>: '
                f"{len(self.result.rows)} rows, ranked by {escape(self.result.sort_metric)}</p>"
                f"<p><b>Verdict:</b> {escape(self.verdict)}</p>{self.board.to_html()}"
                f"<p>Report: {escape(str(self.out))}</p></div>")


def _refit(comparison: Comparison, name: str) -> Any:
    """Fit row ``name`` again on the training part the comparison used (see :attr:`Comparison.best_pipeline`)."""
    from cvtoolkit.methods import make_method, parse_method
    from cvtoolkit.parallel import classical_fit_threads

    dataset, job, outcome = comparison.dataset, comparison.job, comparison.outcome
    spec = parse_method(name)
    train = dataset
    if not job.folds:  # the split run_compare made: same test size and seed, same --dedupe
        from cvtoolkit.data.split import resolve_test_size, split_dataset

        test_size = resolve_test_size(dataset, job.test_size)
        train, test = split_dataset(dataset, test_size=test_size, seed=job.seed)
        if job.dedupe:
            from cvtoolkit.audit import preflight_leakage

            train, test, _ = preflight_leakage(dataset, train, test, dedupe=True, test_size=test_size,
                                               seed=job.seed, cache_dir=job.cache_folder(), progress=False)
        if spec.kind == "classical":
            from cvtoolkit.transfer.weights_files import BACKBONE_NAMES, backbone_images

            if spec.features in BACKBONE_NAMES:  # backbone rows see the files at the backbone's size
                train = (backbone_images(train, test, progress=False) or (train, test))[0]
    row = next(r for r in comparison.rows if r["method"] == name)
    params = {} if spec.kind == "cnn" else {"n_classes": dataset.n_classes}
    cnn = {k: v for k, v in outcome.cnn_options.items() if k not in ("log_dir", "tensorboard_dir")}
    same_size = train.images.dtype != object
    estimator = make_method(spec, feature_options=outcome.feature_options, classifier_params=params,
                            cnn_options=cnn, random_state=job.seed, n_jobs=job.n_jobs or os.cpu_count() or 1,
                            image_size=tuple(train.images.shape[1:3]) if same_size else None,
                            channels=int(train.images.shape[-1]) if same_size and train.images.ndim == 4 else None)
    chosen = row.get("best_params") or {}  # the classifier's parameters found by --search
    if chosen:
        prefix = "classifier__" if spec.kind == "classical" else ""
        estimator.set_params(**{prefix + key: value for key, value in chosen.items()})
    logger.info("fitting %s again on %d training samples (the best row)", name, len(train))
    with classical_fit_threads(job.n_jobs or os.cpu_count() or 1):
        return estimator.fit(train.images, train.labels)


def audit(dataset: Any, *, image_size: int | None = None, out: str | os.PathLike | None = None,
          progress: bool = False, **options: Any) -> Any:
    """Duplicates, train/test leakage, label issues and odd images: ``cvtoolkit audit`` from Python.

    The same as calling the package, ``cvtoolkit.audit(...)``
    (:func:`cvtoolkit.audit.job.audit_data`, where the parameters are described).

    Examples
    --------
    >>> import cvtoolkit as cvt
    >>> found = cvt.audit("digits", label_issues=False)
    >>> found.leakage["test_size"]
    0.25
    """
    _quiet()
    from cvtoolkit.audit.job import audit_data

    return audit_data(dataset, image_size=image_size, out=out, progress=progress, **options)


def load_dataset(spec: str | os.PathLike, *, image_size: int | None = None, progress: bool = False,
                 **options: Any) -> Any:
    """A :class:`~cvtoolkit.data.Dataset` from any spec (:func:`cvtoolkit.data.load_dataset`, no bar by default).

    Examples
    --------
    >>> import cvtoolkit as cvt
    >>> ds = cvt.load_dataset("digits")
    >>> ds.images.shape, ds.n_classes
    ((1797, 8, 8, 1), 10)
    """
    from cvtoolkit.data import load_dataset as _load

    return _load(os.fspath(spec), image_size=image_size, progress=progress, **options)


def load_model(path: str | os.PathLike, *, trust: bool = False) -> Any:
    """A saved pipeline (``cvtoolkit fit``/``train`` folder or ``.keras`` file), ready to ``predict_proba``.

    Loading never runs code from the file unless ``trust``
    (:func:`cvtoolkit.methods.artifact.load_pipeline`).
    """
    _quiet()
    from cvtoolkit.methods.artifact import load_pipeline

    return load_pipeline(path, trust=trust)
