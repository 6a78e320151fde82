"""One home for exceptions (cvtoolkit.errors), the right class for bad option values, and the Registry class."""

from __future__ import annotations

import inspect
import sys
import types

import pytest

import cvtoolkit.errors as errors
from cvtoolkit.cli import main
from cvtoolkit.registry import Registry


def test_every_exception_class_is_defined_in_errors_and_the_old_names_still_import():
    from cvtoolkit.commands.extract import ExtractArgumentError
    from cvtoolkit.features.distributed import SchedulerError
    from cvtoolkit.features.registry import UnknownFeaturesError
    from cvtoolkit.kaggle.submission import SubmissionError
    from cvtoolkit.methods.spec import MethodError
    from cvtoolkit.train.distribute import DistributionError

    for cls in (ExtractArgumentError, SchedulerError, UnknownFeaturesError, SubmissionError, MethodError,
                DistributionError):
        assert cls.__module__ == "cvtoolkit.errors" and getattr(errors, cls.__name__) is cls
        assert issubclass(cls, errors.CvToolkitError)
    own = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, BaseException)]
    assert all(c.__module__ == "cvtoolkit.errors" for c in own)


@pytest.mark.parametrize("argv, needle", [
    (["train", "--dataset", "d", "--model", "shallownet", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--dataset", "d", "--model", "shallownet", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["pack", "--dataset", "d", "--out", "o.h5", "--chunk-rows", "0"], "--chunk-rows must be at least 1"),
])
def test_a_bad_option_value_is_a_usage_error_not_a_dataset_error(argv, needle, capsys, monkeypatch):
    raised = []
    real = errors.UsageError.__init__

    def spy(self, *args):
        raised.append(type(self))
        real(self, *args)

    monkeypatch.setattr(errors.UsageError, "__init__", spy)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert raised == [errors.UsageError]


def test_registry_registers_resolves_lazily_and_names_the_known_ones(monkeypatch):
    reg = Registry("widget", normalize=str.lower)

    def make_round(*, radius=1):
        """Round widget."""
        return ("round", radius)

    reg.register("round", make_round, aliases=("circle",))
    assert reg.names() == ["round"] and "CIRCLE" in reg and len(reg) == 1
    assert reg.get("Circle")(radius=2) == ("round", 2) and reg.describe("round") == "Round widget."
    with pytest.raises(ValueError, match="already registered; pass overwrite=True"):
        reg.register("round", make_round)
    reg.register("round", lambda: "new", description="replaced", overwrite=True)
    assert reg.get("round")() == "new" and reg.get("circle")() == "new"

    module = types.ModuleType("cvtoolkit_fake_widgets")
    module.square = lambda: "square"
    monkeypatch.setitem(sys.modules, "cvtoolkit_fake_widgets", module)
    reg.register("square", "cvtoolkit_fake_widgets:square", description="lazy")
    assert reg.get("square")() == "square"
    reg.register("ghost", "cvtoolkit_no_such_module_xyz:ghost")
    with pytest.raises(errors.UnknownNameError, match="cvtoolkit_no_such_module_xyz"):
        reg.get("ghost")
    with pytest.raises(errors.UnknownNameError, match=r"unknown widget 'squar'; known: round, square, ghost\. "
                                                      r"Did you mean 'square'\?"):
        reg.get("squar")
    reg.unregister("round")
    assert "circle" not in reg and reg.names() == ["square", "ghost"]
