"""The balancers as scikit-learn estimators, in the spirit of ``parametrize_with_checks``: scikit-learn's
own API checks, clone and get_params round trips, validation at fit time only, reproducible fits,
untouched inputs, documented fitted attributes, and imbalanced-learn's ``fit_resample`` template."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks
from sklearn.utils.validation import check_is_fitted

from goemobalance.balance import LPROS, LPRUS, MLROS, MLRUS, MultilabelBalancer
from goemobalance.errors import InputError

ESTIMATORS = [
    MultilabelBalancer(),
    MultilabelBalancer(60, mode="add", source_caps={"llm": 20}),
    MLROS(percentage=20),
    MLRUS(percentage=20),
    LPROS(percentage=20),
    LPRUS(percentage=20),
]
IDS = ["select", "add", "ml-ros", "ml-rus", "lp-ros", "lp-rus"]
API_CHECKS = [
    estimator_checks.check_no_attributes_set_in_init,
    estimator_checks.check_parameters_default_constructible,
    estimator_checks.check_get_params_invariance,
    estimator_checks.check_set_params,
    estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
    estimator_checks.check_estimator_repr,
]


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((600, 5)) < np.geomspace(0.4, 0.02, 5)).astype(np.int8)
    sources = rng.choice(np.array(["human", "pseudo", "llm"]), size=600, p=[0.4, 0.4, 0.2])
    X = rng.random((600, 3))
    return X, y, sources


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_scikit_learn_api_checks(estimator, check):
    check(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_clone_has_equal_params_and_fits_to_the_same_rows(estimator):
    X, y, sources = _data()
    twin = clone(estimator)
    assert twin is not estimator and twin.get_params() == estimator.get_params()
    first = clone(estimator).fit(X, y, sources=sources)
    second = twin.fit(X, y, sources=sources)
    assert np.array_equal(first.sample_indices_, second.sample_indices_)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_get_params_round_trip(estimator):
    estimator = clone(estimator)
    params = estimator.get_params()
    assert estimator.set_params(**params).get_params() == params
    estimator.set_params(random_state=7)
    assert estimator.get_params()["random_state"] == 7
    assert {k: v for k, v in estimator.get_params().items() if k != "random_state"} == {
        k: v for k, v in params.items() if k != "random_state"
    }


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_fit_twice_with_a_seed_gives_the_same_result(estimator):
    X, y, sources = _data(1)
    estimator = clone(estimator).set_params(random_state=3)
    X_first, y_first = estimator.fit_resample(X, y, sources=sources)
    report = estimator.report_.to_dict()
    X_second, y_second = estimator.fit_resample(X, y, sources=sources)
    assert np.array_equal(X_first, X_second) and np.array_equal(y_first, y_second)
    assert estimator.report_.to_dict() == report
    other_seed = clone(estimator).set_params(random_state=4).fit(X, y, sources=sources)
    assert not np.array_equal(other_seed.sample_indices_, estimator.sample_indices_)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_inputs_are_not_mutated(estimator):
    X, y, sources = _data(2)
    copies = X.copy(), y.copy(), sources.copy()
    params = clone(estimator).get_params()
    fitted = clone(estimator).fit(X, y, sources=sources)
    assert (
        np.array_equal(X, copies[0]) and np.array_equal(y, copies[1]) and np.array_equal(sources, copies[2])
    )
    assert fitted.get_params() == params


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_not_fitted_until_fit_and_fitted_attributes_are_documented(estimator):
    estimator = clone(estimator)
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)
    X, y, sources = _data(3)
    estimator.fit(X, y, sources=sources)
    check_is_fitted(estimator)
    fitted = [name for name in vars(estimator) if name.endswith("_") and not name.startswith("_")]
    assert "sample_indices_" in fitted and "report_" in fitted
    doc = type(estimator).__doc__ + (type(estimator).__mro__[1].__doc__ or "")
    attributes = doc.split("Attributes")[1]
    for name in fitted:
        assert f"{name} :" in attributes, name


@pytest.mark.parametrize(
    ("estimator", "field"),
    [
        (MultilabelBalancer("balanced"), "unknown sampling_strategy"),
        (MultilabelBalancer(mode="remove"), "mode must be"),
        (MultilabelBalancer(source_caps={"llm": -2}), r"source_caps\['llm'\]"),
        (MultilabelBalancer(max_overshoot="a lot"), "max_overshoot"),
        (MultilabelBalancer(random_state="seed"), "random_state"),
        (
            MultilabelBalancer({"joy": 10}, label_names=("anger", "fear", "a", "b", "c")),
            "unknown label 'joy'",
        ),
        (MLROS(percentage=0), "percentage"),
        (LPRUS(percentage=100), "percentage"),
        (MLRUS(protect_minority=None), "protect_minority"),
    ],
)
def test_parameters_are_checked_at_fit_not_in_init(estimator, field):
    X, y, sources = _data(4)
    with pytest.raises(InputError, match=field):
        estimator.fit_resample(X, y, sources=sources)


def test_fit_resample_goes_through_the_fit_resample_template():
    calls = []

    class Spy(MLROS):
        def _fit_resample(self, X, y, **params):
            calls.append(len(y))
            return super()._fit_resample(X, y, **params)

    X, y, _ = _data(5)
    X_res, y_res = Spy(percentage=10).fit_resample(X, y)
    assert calls == [600] and len(X_res) == len(y_res) > 600
    with pytest.raises(InputError):
        Spy(percentage=-1).fit_resample(X, y)
    assert calls == [600]
