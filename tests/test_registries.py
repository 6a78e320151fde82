"""Features, classifiers, CNNs, backbones and schedules: one Registry class, one register shape, one error."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from cvtoolkit.errors import ModelError, UnknownModelError, UnknownNameError
from cvtoolkit.registry import Registry, RegistryMapping


def _registries():
    from cvtoolkit.classifiers.registry import REGISTRY as classifiers
    from cvtoolkit.features.registry import REGISTRY as features
    from cvtoolkit.nn.names import REGISTRY as cnns
    from cvtoolkit.train.schedules.factory import REGISTRY as schedules
    from cvtoolkit.transfer.backbones import REGISTRY as backbones

    return {"features": features, "classifier": classifiers, "model": cnns, "backbone": backbones,
            "learning-rate schedule": schedules}


def test_every_registry_is_one_registry_class_with_one_register_shape():
    registries = _registries()
    for kind, registry in registries.items():
        assert type(registry) is Registry and registry.kind == kind and len(registry) >= 5
        with pytest.raises(UnknownNameError) as info:
            registry.get("no_such_name")
        message = str(info.value)
        assert message.startswith(f"unknown {kind} 'no_such_name'; known: ")
        assert all(name in message for name in registry.names())
        taken = registry.names()[0]
        with pytest.raises(ValueError, match="already registered; pass overwrite=True"):
            registry.register(taken, lambda: None)
    # the public register functions: name, target, then keyword-only overwrite=False
    from cvtoolkit.classifiers import register_classifier
    from cvtoolkit.features import register_features
    from cvtoolkit.nn import register_model
    from cvtoolkit.transfer.backbones import register_backbone

    for function in (register_classifier, register_features, register_model, register_backbone):
        params = inspect.signature(function).parameters
        assert list(params)[:2] == ["name", "target"], function
        assert params["overwrite"].kind is inspect.Parameter.KEYWORD_ONLY and params["overwrite"].default is False


def test_cnn_and_backbone_unknown_names_are_model_errors_with_the_list():
    from cvtoolkit.nn import build_model
    from cvtoolkit.transfer.backbones import get_backbone_spec

    with pytest.raises(UnknownModelError, match="Did you mean 'minivggnet'.*register_model"):
        build_model("MiniVGG", (32, 32, 3), 3)
    with pytest.raises(ModelError, match="known: vgg16, resnet50, mobilenet"):
        get_backbone_spec("alexnet")
    assert get_backbone_spec("Mobile-Net").name == "mobilenet"


def test_register_functions_add_and_replace_through_the_registry():
    from cvtoolkit.classifiers import CLASSIFIERS, make_classifier, register_classifier, unregister_classifier
    from cvtoolkit.nn import MODELS, get_builder, register_model
    from cvtoolkit.nn.names import REGISTRY, model_names

    def _nearest(random_state, n_jobs, many=False):
        """Nearest centroid."""
        from sklearn.neighbors import NearestCentroid

        return NearestCentroid()

    register_classifier("centroid", _nearest, scale=False)
    try:
        assert CLASSIFIERS[-1] == "centroid"
        assert type(make_classifier("centroid").named_steps["clf"]).__name__ == "NearestCentroid"
        with pytest.raises(ValueError, match="overwrite=True"):
            register_classifier("centroid", _nearest)
        register_classifier("centroid", _nearest, overwrite=True, description="replaced")
        from cvtoolkit.classifiers import describe_classifier

        assert describe_classifier("centroid") == "replaced"
    finally:
        unregister_classifier("centroid")
    assert "centroid" not in CLASSIFIERS

    builder = get_builder("lenet")
    assert register_model("lenet_copy", builder) is builder
    try:
        assert isinstance(MODELS, RegistryMapping) and MODELS["LeNet_Copy"] is builder
        assert "lenet_copy" in model_names() and REGISTRY.entry("lenet_copy").target is builder
        with pytest.raises(ValueError, match="already registered"):
            register_model("lenet_copy", get_builder("shallownet"))
    finally:
        del MODELS["lenet_copy"]
    assert "lenet_copy" not in model_names()


def test_register_features_replace_is_a_deprecated_alias_of_overwrite():
    from cvtoolkit.features import make_features, register_features, unregister_features
    from cvtoolkit.features.presets import make_hu, make_raw

    register_features("tmp_desc", make_raw)
    try:
        with pytest.raises(ValueError, match="overwrite=True"):
            register_features("tmp_desc", make_hu)
        with pytest.warns(DeprecationWarning, match="overwrite=True"):
            register_features("tmp_desc", make_hu, replace=True)
        assert type(make_features("tmp_desc")) is type(make_hu())
    finally:
        unregister_features("tmp_desc")


def test_cnn_names_come_from_the_registry_without_keras():
    code = ("import sys; from cvtoolkit.nn.names import REGISTRY, model_names, is_model_name; "
            "assert model_names()[:3] == ['shallownet', 'lenet', 'minivggnet'], model_names(); "
            "assert is_model_name('ResNet') and not is_model_name('hog'); "
            "assert REGISTRY.entry('lenet').target == 'cvtoolkit.nn.lenet:LeNet'; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
