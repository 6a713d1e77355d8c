"""Train the app's default methods on digits once per test session (cached on disk)."""

from __future__ import annotations


def pretrain_digits() -> None:
    from uqviz.methods import METHOD_IDS
    from uqviz.runs import run_evaluation
    from uqviz.ui.backend import APP_CONFIG, APP_PLAN, DATA_SEED

    run_evaluation("digits", list(METHOD_IDS), config=APP_CONFIG, plan=APP_PLAN,
                   data_seed=DATA_SEED)
