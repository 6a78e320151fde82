"""The feature registry: names, typos refused, command-level options filtered, lazy entries of other modules."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import FeatureUnion

from cvtoolkit.errors import CvToolkitError
from cvtoolkit.features import (
    FEATURES,
    HOG,
    LBP,
    UnknownFeaturesError,
    accepted_options,
    describe_features,
    make_features,
    register_features,
    unregister_features,
)
from cvtoolkit.features import registry

OWN = ("raw", "color_stats", "hsv_hist", "hog", "lbp", "hu", "haralick", "combined")


def test_names_include_every_family():
    for name in OWN + ("sift_bovw", "rootsift_bovw", "orb_bovw", "vgg16", "resnet50", "mobilenet", "mobilenetv2",
                       "efficientnetb0"):
        assert name in FEATURES


@pytest.mark.parametrize("name", OWN)
def test_own_entries_build_unfitted_transformers_that_work(name):
    est = make_features(name, common=dict(n_jobs=1, alpha=0.25, weights="w.h5", image_size=77, batch_size=8))
    X = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    out = est.fit_transform(X)
    assert out.shape[0] == 3 and out.dtype == np.float32
    assert describe_features(name).startswith(f"{name}: ")
    assert f"({out.shape[1]} values)" in describe_features(name)


def test_common_options_are_filtered_by_signature_and_typos_raise():
    hog = make_features("hog", orientations=12, size=48, common=dict(weights="imagenet", alpha=1.0))
    assert isinstance(hog, HOG) and hog.orientations == 12 and hog.size == 48
    lbp = make_features("lbp", P=8, R=1, common=dict(orientations=12))
    assert isinstance(lbp, LBP) and (lbp.P, lbp.R) == (8, 1)
    # An option given for the name itself must be one of its parameters (issue 13: no silent typos).
    with pytest.raises(UnknownFeaturesError, match=r"'orientation' \(did you mean 'orientations'\?\); valid: .*"
                                                  r"orientations"):
        make_features("hog", orientation=12)
    with pytest.raises(UnknownFeaturesError, match="take no option 'orientations'"):
        make_features("lbp", P=8, R=1, orientations=12)
    combined = make_features("combined", lbp_P=8, lbp_R=1, common=dict(n_jobs=2))
    assert isinstance(combined, FeatureUnion)
    assert combined.get_params()["hog__n_jobs"] == 2 and combined.get_params()["lbp__P"] == 8

    def takes_kwargs(name, **kw):
        return kw

    assert accepted_options(takes_kwargs, {"a": 1, "b": 2}, skip_first=True) == {"a": 1, "b": 2}
    assert accepted_options(lambda x, *, y=0: None, {"x": 1, "y": 2, "z": 3}) == {"x": 1, "y": 2}


def test_lazy_entries_import_on_first_use_and_name_the_module(monkeypatch):
    calls = []

    def fake_backbone(name, *, alpha=1.0, image_size=224):
        calls.append((name, alpha, image_size))
        return "backbone"

    import types
    import sys

    module = types.ModuleType("cvtoolkit_fake_backbones")
    module.make = fake_backbone
    monkeypatch.setitem(sys.modules, "cvtoolkit_fake_backbones", module)
    register_features("fakenet", "cvtoolkit_fake_backbones:make", "a fake backbone", pass_name=True)
    try:
        assert make_features("fakenet", alpha=0.5, common=dict(weights="x.h5", n_jobs=3)) == "backbone"
        assert calls == [("fakenet", 0.5, 224)]
        assert "fakenet" in FEATURES
        assert describe_features("fakenet") == "fakenet: a fake backbone"
    finally:
        unregister_features("fakenet")
    assert "fakenet" not in FEATURES

    register_features("ghost", "cvtoolkit_no_such_module_xyz:make", "missing")
    try:
        with pytest.raises(UnknownFeaturesError, match="cvtoolkit_no_such_module_xyz"):
            make_features("ghost")
    finally:
        unregister_features("ghost")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownFeaturesError, match="Did you mean 'hog'") as info:
        make_features("hogg")
    assert isinstance(info.value, CvToolkitError) and isinstance(info.value, ValueError)


def test_register_refuses_silent_overrides():
    with pytest.raises(ValueError, match="already registered"):
        register_features("hog", registry.make_hog)


def test_presets_are_partials_of_the_class_and_bag_of_words_keeps_its_own_batch_size():
    import functools

    assert isinstance(registry.make_hog, functools.partial) and registry.make_hog.func is HOG
    assert make_features("hog").get_params() == HOG(size=96, pixels_per_cell=16, cells_per_block=2).get_params()
    bovw = make_features("sift_bovw", n_words=8, common=dict(batch_size=8, n_jobs=2, alpha=0.5))
    assert (bovw.descriptor, bovw.dense, bovw.n_words, bovw.n_jobs, bovw.batch_size) == ("sift", True, 8, 2, 1024)


def test_feature_union_takes_each_option_once_for_the_names_that_have_it():
    from cvtoolkit.features import make_feature_union

    union = make_feature_union(["hog", "lbp"], {"orientations": 12, "size": 48}, common={"n_jobs": 1, "alpha": 0.5})
    params = union.get_params()
    assert (params["hog__orientations"], params["hog__size"], params["lbp__size"]) == (12, 48, 48)
    with pytest.raises(UnknownFeaturesError, match="no features among hog, lbp take option 'orientaton'"):
        make_feature_union(["hog", "lbp"], {"orientaton": 12})
    assert isinstance(make_feature_union(["hog"], {"orientations": 4}), HOG)
