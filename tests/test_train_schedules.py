"""Learning-rate schedules: values at known steps, config round trip, saving with a model."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cvtoolkit.train.schedules import (  # noqa: E402
    OneCycle,
    PolynomialDecay,
    StepDecay,
    WarmupCosine,
    make_schedule,
)


def values(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_step_decay_drops_at_boundaries():
    s = StepDecay(0.1, drop_every=5, factor=0.5)
    np.testing.assert_allclose(values(s, [0, 4, 5, 9, 10, 15]), [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125], rtol=1e-6)
    with pytest.raises(ValueError):
        StepDecay(0.1, drop_every=0)


def test_polynomial_linear_and_power():
    s = PolynomialDecay(0.2, decay_steps=10, power=1.0, end_learning_rate=0.0)
    np.testing.assert_allclose(values(s, [0, 5, 10, 20]), [0.2, 0.1, 0.0, 0.0], atol=1e-7)
    q = PolynomialDecay(1.0, decay_steps=10, power=2.0, end_learning_rate=0.1)
    assert float(q(5)) == pytest.approx(0.9 * 0.25 + 0.1, rel=1e-6)


def test_one_cycle_peaks_at_the_right_step():
    s = OneCycle(0.1, total_steps=100, pct_start=0.3, div_factor=25.0, final_div_factor=1e4)
    lrs = values(s, range(101))
    assert int(np.argmax(lrs)) == s.peak_step == 30
    assert lrs[30] == pytest.approx(0.1, rel=1e-6)
    assert lrs[0] == pytest.approx(0.1 / 25, rel=1e-5)
    assert lrs[100] == pytest.approx(0.1 / 25 / 1e4, rel=1e-3)
    assert np.all(np.diff(lrs[:31]) >= 0) and np.all(np.diff(lrs[30:]) <= 1e-12)


def test_warmup_cosine_starts_near_zero_and_ends_at_min():
    s = WarmupCosine(0.01, total_steps=200, warmup_steps=20, min_learning_rate=1e-4)
    lrs = values(s, range(0, 201))
    assert lrs[0] < 1e-6
    assert lrs[10] == pytest.approx(0.005, rel=1e-5)
    assert lrs[20] == pytest.approx(0.01, rel=1e-6)
    assert lrs[110] == pytest.approx((0.01 + 1e-4) / 2, rel=1e-4)
    assert lrs[200] == pytest.approx(1e-4, rel=1e-4)
    assert float(s(10_000)) == pytest.approx(1e-4, rel=1e-4)


@pytest.mark.parametrize(
    "schedule",
    [
        StepDecay(0.1, drop_every=3, factor=0.3, min_learning_rate=1e-3),
        PolynomialDecay(0.1, decay_steps=7, power=0.5),
        OneCycle(0.05, total_steps=40, pct_start=0.25),
        WarmupCosine(0.02, total_steps=30, warmup_steps=5, min_learning_rate=1e-3),
    ],
)
def test_config_round_trip_and_serialization(schedule):
    twin = type(schedule).from_config(schedule.get_config())
    steps = [0, 1, 4, 9, 20, 50]
    np.testing.assert_allclose(values(twin, steps), values(schedule, steps), rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(restored) is type(schedule)
    np.testing.assert_allclose(values(restored, steps), values(schedule, steps), rtol=1e-6)


def test_model_with_schedule_saves_and_loads(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(OneCycle(0.1, total_steps=10)), "sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 3)), np.zeros(4, int), epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    back = keras.models.load_model(path)
    lr_config = back.optimizer.get_config()["learning_rate"]
    assert lr_config["class_name"] == "OneCycle" and lr_config["config"]["total_steps"] == 10
    # The step count is restored, so the schedule continues where it was.
    assert int(back.optimizer.iterations) == 1


def test_make_schedule_names():
    assert make_schedule("constant", 0.1, epochs=2, steps_per_epoch=3) == 0.1
    assert isinstance(make_schedule("step", 0.1, epochs=8, steps_per_epoch=3), StepDecay)
    assert isinstance(make_schedule("polynomial", 0.1, epochs=8, steps_per_epoch=3), PolynomialDecay)
    assert isinstance(make_schedule("one_cycle", 0.1, epochs=8, steps_per_epoch=3), OneCycle)
    cos = make_schedule("cosine", 0.1, epochs=10, steps_per_epoch=10)
    assert isinstance(cos, WarmupCosine) and cos.total_steps == 100
    with pytest.raises(ValueError, match="unknown"):
        make_schedule("triangular", 0.1, epochs=1, steps_per_epoch=1)
