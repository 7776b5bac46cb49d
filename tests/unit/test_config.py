"""config.py: the app's settings, read from the environment in one place (prefix TX_), validated."""
from __future__ import annotations

from pathlib import Path

import pytest

import config


def test_defaults():
    c = config.from_env({"XDG_CACHE_HOME": "/x"})
    assert c == config.Config(cache_dir=Path("/x/transformer-explainer"), local_models=(), trace_cache_mb=600,
                              block_cache_mb=96, engine="fast", class_store="", linear="auto")


def test_each_variable_is_read():
    c = config.from_env({"TX_CACHE_DIR": "/c", "TX_LOCAL_MODELS": " /a : /b :", "TX_TRACE_CACHE_MB": "100",
                         "TX_BLOCK_CACHE_MB": "7", "TX_ENGINE": "HF", "TX_CLASS_STORE": "redis://h:1/0",
                         "TX_LINEAR": " oneDNN "})
    assert (c.cache_dir, c.local_models, c.trace_cache_mb, c.block_cache_mb, c.engine, c.class_store, c.linear) == \
        (Path("/c"), ("/a", "/b"), 100, 7, "hf", "redis://h:1/0", "onednn")


def test_the_older_cache_variable_still_works_and_the_new_one_wins():
    assert config.from_env({"TRANSFORMER_EXPLAINER_CACHE": "/old"}).cache_dir == Path("/old")
    assert config.from_env({"TRANSFORMER_EXPLAINER_CACHE": "/old", "TX_CACHE_DIR": "/new"}).cache_dir == Path("/new")


@pytest.mark.parametrize("env, name", [({"TX_ENGINE": "turbo"}, "TX_ENGINE"), ({"TX_TRACE_CACHE_MB": "-5"},
                                        "TX_TRACE_CACHE_MB"), ({"TX_BLOCK_CACHE_MB": "lots"}, "TX_BLOCK_CACHE_MB"),
                                       ({"TX_LINEAR": "blas"}, "TX_LINEAR")])
def test_a_bad_value_is_one_sentence_naming_the_variable(env, name):
    with pytest.raises(config.BadSetting, match=name):
        config.from_env(env)


def test_get_reads_once_and_reload_reads_again(monkeypatch):
    monkeypatch.setenv("TX_ENGINE", "hf")
    assert config.reload().engine == "hf"
    monkeypatch.setenv("TX_ENGINE", "fast")
    assert config.get().engine == "hf"  # read at start-up, not on every call
    assert config.reload().engine == "fast"
