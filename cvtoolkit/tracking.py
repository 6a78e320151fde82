"""Experiment tracking with MLflow: ``--track mlflow[:URI]`` on ``compare``, ``fit`` and ``train``.

MLflow is an optional extra, imported only when tracking is asked for.
Without a URI the runs go where MLflow puts them by default (MLflow 3: a
``mlflow.db`` SQLite store in the working folder, or ``$MLFLOW_TRACKING_URI``),
so ``mlflow ui`` started in the same folder shows them. The experiment is
``$MLFLOW_EXPERIMENT_NAME`` when set, else ``cvtoolkit``.

- ``compare``: one run per invocation (split, seed, dataset; report.html,
  report.md, leaderboard and settings files as artifacts) with one nested run
  per leaderboard row (method, features and classifier parameters; every
  finite numeric field of the row as a metric: accuracy, macro F1, their
  confidence bounds, fit seconds, predict ms/image, ...; the row's confusion
  matrix and curves; per-epoch metrics of CNN rows). Each row's nested run
  is logged when the row finishes (:meth:`MlflowTracker.compare_run`), so a
  run killed part-way keeps its finished rows; ranks, the statistics
  computed over all rows and the reports are added at the end.
- ``fit``: one run (method parameters, validation metrics, the pipeline folder).
- ``train``: one run; per-epoch metrics logged live by MLflow's own
  ``mlflow.keras.MlflowCallback``.

Examples
--------
>>> parse_track("mlflow")
'mlflow'
>>> parse_track("mlflow:sqlite:///runs/mlflow.db")
'mlflow:sqlite:///runs/mlflow.db'
>>> tracker = MlflowTracker("mlflow:sqlite:///runs/mlflow.db")  # doctest: +SKIP
>>> print(tracker.log_compare(result))                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from cvtoolkit.errors import TrackingError  # noqa: F401  (defined in cvtoolkit.errors; importable here as before)

logger = logging.getLogger(__name__)

MLFLOW_INSTALL = "pip install 'cvtoolkit[mlflow]' (in a checkout: pip install -e .[mlflow])"
"""How to get the extra, quoted in the error when MLflow is missing."""

DEFAULT_EXPERIMENT = "cvtoolkit"
"""Experiment of the runs unless ``$MLFLOW_EXPERIMENT_NAME``/``$MLFLOW_EXPERIMENT_ID`` says otherwise."""

TRACK_HELP = ("log this run to MLflow: 'mlflow' (MLflow's default store in the working folder, where "
              "'mlflow ui' finds it) or 'mlflow:URI' (a tracking URI: sqlite:///path.db or path.db, http://host:5000); "
              "needs the [mlflow] extra")
"""``--help`` text of ``--track``, shared by the commands."""

MAX_PARAM_CHARS = 500
"""Longer parameter values are cut (MLflow limits their length)."""


def parse_track(spec: str) -> str:
    """Check a ``--track`` value (``mlflow`` or ``mlflow:URI``) and return it.

    Raises
    ------
    TrackingError
        Another tracker name, or ``mlflow:`` with nothing after it.

    Examples
    --------
    >>> parse_track("mlflow:./mlruns")
    'mlflow:./mlruns'
    >>> parse_track("wandb")
    Traceback (most recent call last):
    ...
    cvtoolkit.errors.TrackingError: --track 'wandb': unknown tracker; use 'mlflow' or 'mlflow:URI'
    """
    text = str(spec).strip()
    name, _, uri = text.partition(":")
    if name.lower() != "mlflow":
        raise TrackingError(f"--track {spec!r}: unknown tracker; use 'mlflow' or 'mlflow:URI'")
    if _ and not uri.strip():
        raise TrackingError(f"--track {spec!r}: no URI after 'mlflow:'; use 'mlflow' for MLflow's default store")
    return text


def track_arg(spec: str) -> str:
    """``argparse`` type of ``--track``: a bad value is a usage error (one line, exit 2)."""
    import argparse

    try:
        return parse_track(spec)
    except TrackingError as err:
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[-1]) from None


def import_mlflow():
    """The ``mlflow`` module, or a one-line :class:`TrackingError` naming the extra."""
    try:
        import mlflow
    except ImportError as err:
        raise TrackingError(f"--track mlflow needs MLflow, which is not installed ({err}); {MLFLOW_INSTALL}") from None
    return mlflow


def check_tensorboard(directory: str | None) -> None:
    """With ``--tensorboard DIR``: a one-line :class:`TrackingError` now when TensorBoard is not installed.

    Keras's callback needs the ``tensorboard`` package (the ``[tensorboard]``
    extra, not in the main install); without this check each CNN row would
    fail after its data were loaded.

    Examples
    --------
    >>> check_tensorboard(None)  # not asked for: nothing to check
    """
    if directory is None:
        return
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise TrackingError(f"--tensorboard {directory} needs TensorBoard, which is not installed; "
                            "pip install 'cvtoolkit[tensorboard]' (in a checkout: pip install -e .[tensorboard])")


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."


def finite_metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """Every finite number of a leaderboard row (booleans left out), as MLflow metrics.

    Examples
    --------
    >>> finite_metrics({"method": "raw+knn", "accuracy": 0.9, "accuracy_ci_low": 0.85,
    ...                 "log_loss": float("nan"), "features_cached": True, "epochs": 3})
    {'accuracy': 0.9, 'accuracy_ci_low': 0.85, 'epochs': 3.0}
    """
    import numbers

    out = {}
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        value = float(value)
        if math.isfinite(value):
            out[metric_key(key)] = value
    return out


def metric_key(name: Any) -> str:
    """``name`` with the characters MLflow refuses in metric and parameter names replaced by ``_``.

    Examples
    --------
    >>> metric_key("recall_chat+chien")
    'recall_chat_chien'
    """
    import re

    return re.sub(r"[^\w\-. /:]", "_", str(name), flags=re.ASCII)


def method_params(method: str, *, seed: int = 42, feature_options: Mapping | None = None,
                  cnn_options: Mapping | None = None) -> dict[str, str]:
    """The parameters a row's estimator is built with, flattened for MLflow.

    ``features.<name>`` and ``classifier.<step>.<name>`` for classical rows,
    ``cnn.<name>`` for CNN rows, plus ``method``, ``kind``, ``features``,
    ``classifier``, ``model``. Parameters that are not plain values (arrays,
    callables) are left out; building fails silently to the names only.

    Examples
    --------
    >>> p = method_params("raw+knn")
    >>> p["kind"], p["features"], p["classifier"], "classifier.clf.n_neighbors" in p
    ('classical', 'raw', 'knn', True)
    """
    from cvtoolkit.methods.spec import parse_method

    spec = parse_method(method)
    params: dict[str, Any] = {"method": spec.name, "kind": spec.kind}
    for key in ("features", "classifier", "model"):
        if getattr(spec, key):
            params[key] = getattr(spec, key)
    try:
        from cvtoolkit.methods.build import make_method

        options = {k: v for k, v in (cnn_options or {}).items() if k not in ("verbose",)}
        estimator = make_method(spec, feature_options=dict(feature_options or {}), cnn_options=options,
                                random_state=seed)
        if spec.kind == "cnn":
            items = {f"cnn.{k}": v for k, v in estimator.get_params(deep=False).items()}
        else:
            items = {k.replace("__", "."): v for k, v in estimator.get_params(deep=True).items()
                     if k.startswith(("features__", "classifier__"))}
        params.update({k: v for k, v in items.items() if _scalar(v)})
    except Exception as err:  # parameters are a courtesy; the metrics are what matters
        logger.debug("no parameters for %s: %s", method, err)
    return {k: _param_value(v) for k, v in params.items()}


SERVER_TIMEOUT = 5.0
"""Seconds :func:`check_server` waits for an MLflow tracking server to answer."""


def check_server(uri: str, spec: str = "mlflow", *, timeout: float = SERVER_TIMEOUT) -> None:
    """Fail in one line when an ``http(s)://`` tracking URI has no server answering within ``timeout``.

    MLflow itself retries an unreachable server with back-off for minutes,
    printing only urllib3 warnings. Other URIs (files, SQLite) are left to
    MLflow.

    Raises
    ------
    TrackingError
        Nothing accepts connections there, or it does not answer HTTP in time.

    Examples
    --------
    >>> check_server("sqlite:///mlflow.db")  # not a server: nothing to check
    """
    import urllib.error
    import urllib.parse
    import urllib.request

    from cvtoolkit.errors import one_line

    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - the user's own tracking URI
            pass
    except urllib.error.HTTPError:  # it answers HTTP (a proxy, a server without /health): MLflow decides
        return
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise TrackingError(
            f"--track {spec}: no MLflow tracking server answers at {uri} ({one_line(reason)}; waited at most "
            f"{timeout:g} s). Start one ('mlflow server --port {parts.port or 5000}'), or use a local store: "
            "--track mlflow or --track mlflow:runs.db."
        ) from None


class MlflowTracker:
    """Logs cvtoolkit runs to MLflow.

    Parameters
    ----------
    spec : str
        ``mlflow`` (MLflow's default tracking URI: ``$MLFLOW_TRACKING_URI``,
        else its default local store in the working folder) or
        ``mlflow:URI``.
    experiment : str, optional
        Experiment name; default ``$MLFLOW_EXPERIMENT_NAME`` (or ``_ID``)
        when set, else :data:`DEFAULT_EXPERIMENT`.

    Raises
    ------
    TrackingError
        A bad ``spec``, or MLflow not installed.
    """

    def __init__(self, spec: str = "mlflow", *, experiment: str | None = None):
        self.spec = parse_track(spec)
        self.mlflow = import_mlflow()
        uri = self.spec.partition(":")[2].strip()
        if uri:
            if ":" not in uri and uri.endswith(".db"):
                uri = "sqlite:///" + Path(uri).expanduser().resolve().as_posix().lstrip("/")  # a SQLite file
            self.mlflow.set_tracking_uri(uri)
        check_server(self.tracking_uri, spec)  # a server that is not there: one line now, not a hang
        env_experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_ID")
        self.experiment = experiment or (None if env_experiment else DEFAULT_EXPERIMENT)
        if self.experiment:
            try:
                self.mlflow.set_experiment(self.experiment)
            except Exception as err:  # MlflowException: a store MLflow refuses or cannot reach
                from cvtoolkit.errors import one_line

                raise TrackingError(f"--track {spec}: MLflow cannot use {self.tracking_uri}: {one_line(err)}") from None

    @property
    def tracking_uri(self) -> str:
        return str(self.mlflow.get_tracking_uri())

    def _where(self, run) -> str:
        return (f"logged MLflow run {run.info.run_id} (experiment {self.experiment or 'from the environment'}) "
                f"to {self.tracking_uri}; browse with: mlflow ui --backend-store-uri {self.tracking_uri}")

    @contextlib.contextmanager
    def run(self, name: str, *, params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
            nested: bool = False) -> Iterator[Any]:
        """A started MLflow run with its parameters and tags logged; ended (FAILED on an exception) on exit."""
        mlflow = self.mlflow
        with mlflow.start_run(run_name=name, nested=nested,
                              tags={"cvtoolkit": "1", **{k: str(v) for k, v in (tags or {}).items()}}) as run:
            if params:
                mlflow.log_params({metric_key(k): _param_value(v) for k, v in params.items()})
            yield run

    def _log_file(self, path: Any, artifact_path: str | None = None) -> None:
        if path and Path(path).is_file():
            self.mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def _log_history(self, history: Mapping[str, Any] | None) -> None:
        for key, values in (history or {}).items():
            for step, value in enumerate(values or []):
                if isinstance(value, (int, float)) and math.isfinite(float(value)):
                    self.mlflow.log_metric(metric_key(f"epoch_{key}"), float(value), step=step)

    # ------------------------------------------------------------------ compare
    @contextlib.contextmanager
    def compare_run(self, dataset: Any = None, *, name: str | None = None, feature_options: Mapping | None = None,
                    cnn_options: Mapping | None = None, seed: int = 42) -> Iterator["CompareRunLog"]:
        """The parent run of a compare, open while its rows run: yields a :class:`CompareRunLog`.

        Each row is logged as a nested run when it finishes
        (:meth:`CompareRunLog.log_row`, called by the row store), so a run
        killed part-way keeps its finished rows in MLflow;
        :meth:`CompareRunLog.finish` adds the parent's parameters, files,
        best row and each row's rank. The parent ends FAILED on an exception.
        """
        run_name = name or f"compare {Path(str(dataset or 'dataset')).name}"
        with self.run(run_name, tags={"command": "compare"}) as parent:
            yield CompareRunLog(self, parent, feature_options=feature_options, cnn_options=cnn_options, seed=seed)

    def log_compare(self, result, *, name: str | None = None, feature_options: Mapping | None = None,
                    cnn_options: Mapping | None = None, out_dir: Any = None) -> str:
        """Log a finished :class:`cvtoolkit.methods.compare.CompareResult`: one run, one nested run per row.

        Returns
        -------
        str
            One line for the user: the run id and where to browse it.
        """
        settings = dict(result.settings or {})
        with self.compare_run(settings.get("dataset"), name=name, feature_options=feature_options,
                              cnn_options=cnn_options, seed=int(settings.get("seed", 42))) as live:
            for row in result.rows:
                if not row.get("skipped"):
                    live.log_row(row, None, result.histories.get(row["method"]), files=result.files)
            return live.finish(result, out_dir=out_dir)

    # ---------------------------------------------------------------------- fit
    def log_fit(self, pipeline_dir: Any, *, history: Mapping | None = None, name: str | None = None,
                log_pipeline: bool = True) -> str:
        """Log a pipeline folder written by ``fit``: its manifest's parameters and validation metrics.

        Parameters: ``method``, ``kind``, ``features.*``, ``classifier.*``,
        ``cnn.*`` (from the manifest), ``source``, ``seed``, ... ; metrics:
        ``validation_*``, ``fit_seconds``, per-epoch ``epoch_*`` from
        ``history``; artifact: the folder (``pipeline/``).
        """
        import json

        manifest = json.loads((Path(pipeline_dir) / "manifest.json").read_text(encoding="utf-8"))
        params: dict[str, Any] = {}
        for key, value in manifest.items():
            if key in ("feature_params", "classifier_params", "cnn_params") and isinstance(value, dict):
                prefix = key.split("_")[0]
                params.update({f"{prefix}.{k}": v for k, v in value.items() if _scalar(v)})
            elif key in ("best_params",) and isinstance(value, dict):
                params.update({f"best.{k}": v for k, v in value.items()})
            elif _scalar(value) and key not in ("fit_seconds", "created"):
                params[key] = value
        metrics = {f"validation_{k}": v for k, v in (manifest.get("validation") or {}).items()}
        metrics["fit_seconds"] = manifest.get("fit_seconds")
        with self.run(name or f"fit {manifest.get('method', Path(str(pipeline_dir)).name)}", params=params,
                      tags={"command": "fit"}) as run:
            self.mlflow.log_metrics(finite_metrics(metrics))
            self._log_history(history)
            if log_pipeline:
                self.mlflow.log_artifacts(str(pipeline_dir), artifact_path="pipeline")
        return self._where(run)

    # -------------------------------------------------------------------- train
    @contextlib.contextmanager
    def training_run(self, name: str, *, params: Mapping[str, Any] | None = None) -> Iterator[list]:
        """A run for ``train``: yields the Keras callbacks to pass to ``fit`` (MLflow's ``MlflowCallback``).

        The run ends with the block (FAILED if it raised); :meth:`finish_training`
        adds the final files and test metrics to it afterwards.
        """
        from mlflow.keras import MlflowCallback  # imports Keras: training only

        with self.run(name, params=params, tags={"command": "train"}) as run:
            self.run_id = run.info.run_id
            yield [MlflowCallback()]

    def finish_training(self, *paths: Any, metrics: Mapping[str, Any] | None = None) -> str:
        """Log files that exist and final metrics to the run of :meth:`training_run`; returns the user's line."""
        with self.mlflow.start_run(run_id=self.run_id) as run:
            for path in paths:
                self._log_file(path)
            if metrics:
                self.mlflow.log_metrics(finite_metrics(metrics))
        return self._where(run)


class CompareRunLog:
    """A compare's open MLflow parent run (:meth:`MlflowTracker.compare_run`): rows logged as they finish."""

    def __init__(self, tracker: MlflowTracker, parent: Any, *, feature_options: Mapping | None = None,
                 cnn_options: Mapping | None = None, seed: int = 42) -> None:
        self.tracker, self.parent, self.seed = tracker, parent, int(seed)
        self.feature_options, self.cnn_options = feature_options, cnn_options
        self.child_runs: dict[str, str] = {}  # row name -> nested run id

    def log_row(self, row: Mapping[str, Any], proba: Any = None, history: Mapping | None = None, *,
                files: Mapping[str, str] | None = None) -> None:
        """One nested run for a finished row: its parameters, every finite number as a metric, its
        per-epoch history and (when ``files`` names them) its figures."""
        mlflow = self.tracker.mlflow
        method = str(row["method"])
        params = method_params(method, seed=self.seed, feature_options=self.feature_options,
                               cnn_options=self.cnn_options)
        params["seed"] = self.seed
        for k, v in (row.get("best_params") or {}).items():
            params[f"best.{k}"] = v
        tags: dict[str, Any] = {"command": "compare"}
        if row.get("error"):
            tags["error"] = str(row["error"])[:5000]
        with self.tracker.run(method, params=params, tags=tags, nested=True) as child:
            mlflow.log_metrics(finite_metrics(row))
            self.tracker._log_history(history)
            for prefix in ("confusion", "curves", "top_losses"):
                self.tracker._log_file((files or {}).get(f"{prefix}:{method}"))
        self.child_runs[method] = child.info.run_id
        if row.get("error"):
            mlflow.MlflowClient().set_terminated(child.info.run_id, status="FAILED")

    def finish(self, result: Any, *, out_dir: Any = None) -> str:
        """The parent's parameters, files and best row, each row's rank and final metrics (with the
        statistics computed after the last row); returns the user's line."""
        mlflow = self.tracker.mlflow
        settings = dict(result.settings or {})
        seed = int(settings.get("seed", self.seed))
        params = {k: settings.get(k) for k in ("dataset", "kind", "test_size", "seed", "samples",
                                              "train_samples", "test_samples", "classes", "search")}
        params["split"] = ("official" if settings.get("test_size") == "official"
                           else f"stratified test {settings.get('test_size')} seed {seed}")
        params["methods"] = ",".join(settings.get("methods") or [])
        mlflow.log_params({metric_key(k): _param_value(v) for k, v in params.items()})
        files = dict(result.files or {})
        for key in ("report.html", "report.md", "leaderboard.json", "leaderboard.csv"):
            self.tracker._log_file(files.get(key))
        if out_dir is not None:
            self.tracker._log_file(Path(out_dir) / "settings.json")
        best = next((r for r in result.rows if not r.get("error")), None)
        if best is not None:
            mlflow.set_tag("best_method", best["method"])
            mlflow.log_metrics({f"best_{k}": v for k, v in finite_metrics(best).items()})
        client = mlflow.MlflowClient()
        for rank, row in enumerate(result.rows, start=1):
            run_id = self.child_runs.get(str(row["method"]))
            if run_id is None:
                continue
            client.set_tag(run_id, "rank", str(rank))
            client.set_tag(run_id, "split", params["split"])
            for key, value in finite_metrics(row).items():  # CIs and tests: computed once every row finished
                client.log_metric(run_id, key, value)
            for prefix in ("curves", "top_losses"):  # written with the reports, after the last row
                path = files.get(f"{prefix}:{row['method']}")
                if path and Path(path).is_file():
                    client.log_artifact(run_id, str(path))
        return self.tracker._where(self.parent)


def make_tracker(spec: str | None) -> MlflowTracker | None:
    """:class:`MlflowTracker` for a ``--track`` value, ``None`` without one (what the commands call first)."""
    return MlflowTracker(spec) if spec else None
