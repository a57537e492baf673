"""build_training_set (holdout, since_row, replay, not enough data) and train_challenger."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from models.base import ConfigError
from models.buffers import LabelledBuffer, Reservoir
from models.config import ModelConfig, TorchConfig, TrainingConfig
from models.families import make_model
from models.training import NotEnoughDataError, build_training_set, make_memory, train_challenger

CONFIG = TrainingConfig(
    recent_rows=800,
    holdout_rows=300,
    replay_size=200,
    replay_fraction=0.2,
    min_train_rows=200,
    seed=3,
)


@pytest.fixture
def memory(make_data) -> tuple[LabelledBuffer, Reservoir]:
    """Rows 0..2999 streamed through a buffer of 1100 rows spilling into a reservoir of 200."""
    buffer, reservoir = make_memory(CONFIG)
    for start in range(0, 3000, 250):
        buffer.add(*make_data("classification", 250, seed=start, start=start))
    return buffer, reservoir


def test_make_memory_sizes() -> None:
    buffer, reservoir = make_memory(CONFIG)
    assert buffer.capacity == 1100 and buffer.overflow is reservoir and reservoir.capacity == 200


def test_holdout_is_most_recent_and_train_is_before_it(memory) -> None:
    ts = build_training_set(*memory, CONFIG)
    assert ts.holdout_range == (2700, 3000)
    np.testing.assert_array_equal(ts.X_holdout.index, np.arange(2700, 3000))
    assert ts.recent_range == (1900, 2700) and ts.n_recent == 800
    assert ts.n_replay == 200  # 800 * 0.2 / 0.8, and the reservoir holds 200
    train_rows = ts.X_train.index.to_numpy()
    assert len(train_rows) == len(ts.y_train) == ts.n_train == 1000
    assert not set(train_rows) & set(range(2700, 3000))  # no holdout row in training
    # replay first (older rows, from the reservoir, oldest first), then the recent rows
    replay, recent = train_rows[:200], train_rows[200:]
    assert np.all(replay < 1900) and np.all(np.diff(replay) > 0)
    assert set(replay) <= set(memory[1].rows) and ts.replay_range[1] <= 1900
    np.testing.assert_array_equal(recent, np.arange(1900, 2700))
    assert ts.summary()["n_train"] == 1000


def test_since_row_is_respected(memory) -> None:
    ts = build_training_set(*memory, CONFIG, since_row=2400)
    # 600 rows of the new concept: the holdout takes holdout_fraction (0.3) of them, not 300
    assert ts.holdout_range == (2820, 3000) and ts.n_holdout == 180
    assert ts.recent_range == (2400, 2820) and ts.n_recent == 420
    assert ts.n_replay == 105
    assert np.all(ts.X_train.index.to_numpy()[ts.n_replay :] >= 2400)
    # with many rows since the drift the holdout is holdout_rows again
    assert build_training_set(*memory, CONFIG, since_row=1000).holdout_range == (2700, 3000)


def test_no_replay_without_reservoir_or_fraction(memory) -> None:
    buffer, reservoir = memory
    assert build_training_set(buffer, None, CONFIG).n_replay == 0
    no_replay = CONFIG.model_copy(update={"replay_fraction": 0.0})
    ts = build_training_set(buffer, reservoir, no_replay)
    assert ts.n_replay == 0 and ts.replay_range is None and ts.n_train == 800


def test_not_enough_data_says_how_many(memory, make_data) -> None:
    with pytest.raises(NotEnoughDataError) as info:
        build_training_set(*memory, CONFIG, since_row=2950)
    err = info.value
    assert (err.n_available, err.n_required) == (44, 200)  # 35 recent + round(8.75) replay
    message = str(err)
    assert "Only 44 labelled rows" in message and "from row 2950" in message
    assert "min_train_rows is 200" in message
    buffer = LabelledBuffer(capacity=1000)
    buffer.add(*make_data("classification", 400, seed=0))
    with pytest.raises(NotEnoughDataError, match="Only 100 labelled rows"):
        build_training_set(buffer, None, CONFIG)


def torch_model(seed: int = 0):
    return make_model(
        ModelConfig(family="torch_mlp", seed=seed, torch=TorchConfig(device="cpu")),
        "classification",
    )


def test_refit_trains_a_fresh_clone(memory, make_data) -> None:
    ts = build_training_set(*memory, CONFIG)
    template = make_model(ModelConfig(), "classification")
    champion = make_model(ModelConfig(estimator="logistic_regression"), "classification")
    champion.fit(ts.X_holdout, ts.y_holdout)
    before = champion.predict(ts.X_train)
    challenger = train_challenger(template, champion, ts, CONFIG)
    assert challenger is not template and type(challenger) is type(template)
    assert not template.is_fitted  # type: ignore[attr-defined]
    np.testing.assert_array_equal(champion.predict(ts.X_train), before)
    X_test, y_test = make_data("classification", 1000, seed=99)
    assert challenger.score(X_test, y_test) > 0.85


def test_finetune_continues_from_a_copy_of_the_champion(memory, make_data) -> None:
    config = CONFIG.model_copy(update={"strategy": "finetune"})
    X_old, y_old = make_data("classification", 1500, seed=50)
    champion = torch_model().fit(X_old, y_old)
    snapshot = copy.deepcopy(champion)
    # the buffered rows follow the same concept; fine-tuning on the drifted concept must adapt
    buffer = LabelledBuffer(capacity=1100)
    buffer.add(*make_data("classification", 1100, seed=51, concept=1))
    ts = build_training_set(buffer, None, config)
    challenger = train_challenger(torch_model(seed=9), champion, ts, config)

    assert challenger is not champion and challenger.n_updates_ == 1  # type: ignore[attr-defined]
    assert challenger.seed == 0  # it descends from the champion, not from the template
    X_test, y_test = make_data("classification", 1000, seed=52, concept=1)
    np.testing.assert_array_equal(champion.predict(X_test), snapshot.predict(X_test))
    assert challenger.score(X_test, y_test) > champion.score(X_test, y_test) + 0.1


def test_finetune_without_champion_refits(memory) -> None:
    config = CONFIG.model_copy(update={"strategy": "finetune"})
    ts = build_training_set(*memory, config)
    challenger = train_challenger(torch_model(), None, ts, config)
    assert challenger.n_updates_ == 0  # type: ignore[attr-defined]
    assert challenger.score(ts.X_holdout, ts.y_holdout) > 0.85


def test_champion_of_another_task_is_refused(memory) -> None:
    ts = build_training_set(*memory, CONFIG)
    regressor = make_model(ModelConfig(), "regression")
    with pytest.raises(ConfigError, match="champion solves 'regression'"):
        train_challenger(make_model(ModelConfig(), "classification"), regressor, ts, CONFIG)
