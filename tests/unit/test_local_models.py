"""Bring your own model: local checkpoint folders are validated, described from their config, and load."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models import registry
from models.registry import NotAModel, inspect_local, register_from_env
from tests.unit.conftest import assert_trace_matches_model, one_sentence


def copy_of(src: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def test_tiny_gpt2_folder_is_a_decoder(tiny_gpt2):
    spec = inspect_local(tiny_gpt2.dir)
    assert (spec.family, spec.head, spec.source) == ("decoder", "causal-lm", "local")
    assert spec.id.startswith("local-") and spec.path == str(tiny_gpt2.dir.resolve())
    assert "(local)" in spec.label


def test_tiny_bert_folder_is_a_masked_lm_encoder(tiny_bert):
    spec = inspect_local(tiny_bert.dir)
    assert (spec.family, spec.head) == ("encoder", "masked-lm")


def test_bert_encoder_without_head(tiny_bert, tmp_path):
    folder = copy_of(tiny_bert.dir, tmp_path, "My Encoder!")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = ["BertModel"]
    (folder / "config.json").write_text(json.dumps(cfg))
    spec = inspect_local(folder)
    assert (spec.family, spec.head, spec.id) == ("encoder", "none", "local-my-encoder")


@pytest.mark.parametrize("damage, words", [
    ("missing", "is not a directory"),
    ("no-config", "has no config.json"),
    ("bad-json", "cannot be read as JSON"),
    ("auto_map", "never runs"),
    ("unknown-type", "does not know"),
    ("bin-only", "no .safetensors"),
    ("no-tokenizer", "no tokenizer files"),
    ("vision", "neither a causal LM"),
])
def test_bad_folders_are_refused_in_one_sentence(tiny_gpt2, tmp_path, damage, words):
    folder = copy_of(tiny_gpt2.dir, tmp_path, "m")
    cfg = json.loads((folder / "config.json").read_text())
    if damage == "missing":
        folder = tmp_path / "nowhere"
    elif damage == "no-config":
        (folder / "config.json").unlink()
    elif damage == "bad-json":
        (folder / "config.json").write_text("{not json")
    elif damage == "auto_map":
        cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(cfg))
    elif damage == "unknown-type":
        cfg["model_type"] = "evil-net"
        (folder / "config.json").write_text(json.dumps(cfg))
    elif damage == "bin-only":
        for f in folder.glob("*.safetensors"):
            f.rename(f.with_suffix(".bin"))
    elif damage == "no-tokenizer":
        for name in registry.TOKENIZER_FILES:
            (folder / name).unlink(missing_ok=True)
    elif damage == "vision":
        cfg["architectures"] = ["GPT2ForSequenceClassification"]
        (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(NotAModel) as e:
        inspect_local(folder)
    assert words in str(e.value) and one_sentence(str(e.value)), str(e.value)


def test_env_var_registers_good_folders_and_reports_bad_ones(tiny_gpt2, tiny_bert, tmp_path, clean_registry):
    import os

    specs = register_from_env({registry.LOCAL_MODELS_ENV: os.pathsep.join(
        [str(tiny_gpt2.dir), str(tmp_path / "nope"), str(tiny_bert.dir), ""])})
    assert [s.family for s in specs] == ["decoder", "encoder"]
    assert all(s.id in registry.REGISTRY for s in specs)
    assert set(registry.model_ids()) >= {s.id for s in specs}
    assert registry.model_ids().index(specs[0].id) < registry.model_ids().index("minilm-l6")  # decoders first
    assert len(registry.LOCAL_ERRORS) == 1 and "nope" in str(registry.LOCAL_ERRORS[0])
    register_from_env({registry.LOCAL_MODELS_ENV: str(tiny_gpt2.dir)})  # idempotent
    assert sum(s.path == str(tiny_gpt2.dir.resolve()) for s in registry.REGISTRY.values()) == 1


def test_two_folders_with_the_same_name_get_two_ids(tiny_gpt2, tmp_path, clean_registry):
    a = registry.register_local(copy_of(tiny_gpt2.dir, tmp_path / "a", "net"))
    b = registry.register_local(copy_of(tiny_gpt2.dir, tmp_path / "b", "net"))
    assert a.id == "local-net" and b.id == "local-net-2"


@pytest.mark.parametrize("which", ["tiny_gpt2", "tiny_bert"])
def test_a_registered_folder_loads_and_traces_exactly(which, request, clean_registry):
    from models.loading import load
    from models.trace import compute_trace

    tiny = request.getfixturevalue(which)
    spec = registry.register_local(tiny.dir)
    lm = load(spec.id)
    assert lm.spec.head == spec.head and lm.facts.family == spec.family
    assert_trace_matches_model(lm, compute_trace(lm, "students celebrate the graduation"))


def test_bin_weights_next_to_safetensors_are_never_unpickled(tiny_gpt2, tmp_path, clean_registry):
    """A folder with both: from_pretrained must read the safetensors (a poisoned .bin would run code)."""
    from models.loading import load

    folder = copy_of(tiny_gpt2.dir, tmp_path, "both")
    (folder / "pytorch_model.bin").write_bytes(b"this is not a pickle; reading it would fail loudly")
    lm = load(registry.register_local(folder).id)
    assert lm.model.config.n_layer == 2


def test_serve_takes_local_model_flags():
    code = ("import serve, sys; a = ['--local-model', 'x', '--server.port', '1', '--local-model=y']; "
            "print(serve.take_local_models(a), a)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    assert out == "['x', 'y'] ['--server.port', '1']"


def test_serve_warms_and_freezes_what_it_loaded_so_the_gc_after_each_run_skips_it():
    """serve.py starts the server at once and loads what the first page runs need (models, the neighbour index) on
    a background thread, with the cyclic collector off meanwhile (its full passes over everything being imported
    held the interpreter lock the first page waited for), then hides the warm process from later collections and
    turns the collector on. Run serve.main() with the server's start replaced by: note whether the warm-up was still running,
    wait for it, report."""
    code = ("import gc, sys, threading, serve; from streamlit.web import cli; from models import similarity; "
            "built = []; init = similarity.EmbeddingIndex.__init__; "
            "similarity.EmbeddingIndex.__init__ = lambda self, lm: (built.append(lm.spec.id), init(self, lm))[1]; "
            "from components import cache; from models.registry import DEFAULT_DECODER; "
            "warm = lambda: next(t for t in threading.enumerate() if t.name == 'warm-up'); "
            "cli.main = lambda: (print('warming', warm().is_alive(), gc.isenabled()), warm().join(), "
            "    print('collecting', gc.isenabled()), "
            "    print(gc.get_freeze_count(), len(gc.get_objects()), sorted(built), "
            "    cache._index(DEFAULT_DECODER) is cache._index(DEFAULT_DECODER), sorted(built))); serve.main()")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                           cwd=Path(__file__).resolve().parents[2]).stdout.strip().splitlines()
    # the server started while the models were still loading (they take seconds; starting it takes no time), with
    # the cyclic collector off until the warm-up is done, and on again after it
    assert next(line for line in lines if line.startswith("warming")) == "warming True False"
    assert "collecting True" in lines
    frozen, walked, rest = lines[-1].split(" ", 2)
    frozen, walked = int(frozen), int(walked)
    # each model's index built once, by the warm-up; asking again is a cache hit
    assert rest == "['minilm-l6', 'smollm2-135m'] True ['minilm-l6', 'smollm2-135m']"
    assert frozen > 200_000  # torch, transformers, streamlit, both models: all frozen
    assert walked < frozen / 20  # what a full collection still walks


def test_the_warm_up_loads_the_first_models_stand_alone_tokenizer_last(monkeypatch):
    """A first page needs the models (each with its own tokenizer) and, on the Tokens page of the first model, the
    other models' stand-alone tokenizers; the first model's own stand-alone tokenizer (read only while another
    model is on screen) holds the interpreter lock while transformers parses its tokenizer.json, so the warm-up
    loads it after everything else, never before a first page could be drawn."""
    from components import cache

    calls = []
    monkeypatch.setattr(cache.loading, "warm_imports", lambda: calls.append("imports"))
    for name in ("_model", "_tokenizer", "_trace", "_index"):
        monkeypatch.setattr(cache, name, lambda *a, name=name: calls.append((name, a[0])))
    models = ("smollm2-135m", "minilm-l6")
    cache.warm_models(models)
    assert calls == ["imports", ("_model", models[0]), ("_model", models[1]), ("_tokenizer", models[1])]
    calls.clear()
    cache.warm_pages(models, "a text")
    assert calls[-1] == ("_tokenizer", models[0])
    assert {c[0] for c in calls[:-1]} == {"_trace", "_index"} and len(calls) == 5


def test_the_warm_up_turns_the_collector_back_on_whatever_happens(monkeypatch):
    """serve.py keeps the cyclic collector off only while it loads converted models: a first run that converts a
    model (minutes) collects as usual, and a warm-up that fails in any way (an Exception, a BaseException, a
    failing check before the loads) leaves the collector on, and says so for an Exception."""
    import gc

    import serve
    from components import cache
    from models import loading

    seen = []

    def stop(error):
        def warm_models(models):
            seen.append(gc.isenabled())
            raise error
        return warm_models

    def broken(spec):
        raise RuntimeError("a damaged cache folder")

    was = gc.isenabled()
    try:
        for prepared, error in ((False, RuntimeError("stopped")), (True, RuntimeError("stopped")), (True, SystemExit(3))):
            monkeypatch.setattr(cache, "warm_models", stop(error))
            monkeypatch.setattr(loading, "is_prepared", lambda spec, prepared=prepared: prepared)
            gc.disable()
            if isinstance(error, Exception):
                serve.warm(0.0)
            else:
                with pytest.raises(SystemExit):
                    serve.warm(0.0)
            assert gc.isenabled()
        monkeypatch.setattr(loading, "is_prepared", broken)
        gc.disable()
        serve.warm(0.0)
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
    assert seen == [True, False, False]
