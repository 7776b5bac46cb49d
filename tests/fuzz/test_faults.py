"""Faults and security, beyond tests/unit/test_loading.py (which covers truncated, missing and corrupted cache
files, a changed source, a copy that fails verification, and the hub-offline environment):

* a REAL conversion process killed half-way (SIGKILL while it writes/verifies), then the next prepare()
  rebuilds a verified copy and leaves no half-written folder behind;
* a cache folder that cannot be written: one sentence (not a traceback), and the app keeps working;
* a hub model selected while the hub is unreachable, on every page of tests/fuzz/pages.py: one sentence,
  the bundled model of the same family instead, the page works;
* security: no URL value reaches model loading unless it is a registry id; trust_remote_code is never passed;
  Streamlit's XSRF protection stays on.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from models import loading
from models.loading import ModelUnavailable
from models.registry import REGISTRY, get_spec
from tests.app.helpers import APP, switch_to
from tests.fuzz.pages import PAGES

REPO = Path(__file__).resolve().parents[2]
CONVERT = ("import sys; from models.loading import prepare, terminal_progress; from models.registry import get_spec;"
           " prepare(get_spec('smollm2-135m'), terminal_progress)")


def one_sentence(message: str) -> bool:
    return message.count(". ") == 0 and "\n" not in message and "Traceback" not in message and message.endswith(".")


# ------------------------------------------------------------------------------------ cache faults
@pytest.mark.slow
def test_conversion_killed_half_way_is_rebuilt_on_the_next_start(tmp_path):
    env = dict(os.environ, TRANSFORMER_EXPLAINER_CACHE=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", CONVERT], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:  # kill it once the fp32 copy is being written/verified
            seen.append(line)
            if "Verifying" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert any("Verifying" in line for line in seen), "".join(seen[-20:])
    spec = get_spec("smollm2-135m")
    final = tmp_path / spec.id / f"fp32-v{loading.CACHE_FORMAT}"
    assert not final.exists(), "a half-made copy was put in place"
    assert list((tmp_path / spec.id).glob(".tmp-*")), "the killed run left nothing half-written: not a real test"

    done = subprocess.run([sys.executable, "-c", CONVERT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "is ready" in done.stdout
    old = os.environ.get("TRANSFORMER_EXPLAINER_CACHE")
    os.environ["TRANSFORMER_EXPLAINER_CACHE"] = str(tmp_path)
    try:
        assert loading.is_prepared(spec)
        assert loading._manifest_ok(final, loading.bundled_path(spec), deep=True)  # the sha256 too
    finally:
        if old is None:
            del os.environ["TRANSFORMER_EXPLAINER_CACHE"]
        else:
            os.environ["TRANSFORMER_EXPLAINER_CACHE"] = old
    assert not list((tmp_path / spec.id).glob(".tmp-*")), "the killed run's half-written folder is still there"


@pytest.fixture
def unwritable_cache(tmp_path, monkeypatch):
    """A cache path that cannot be created (its parent is a file). Tests run as root here, so a chmod'ed
    read-only folder would still be writable; the failure (an OSError on mkdir/open) is the same."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TRANSFORMER_EXPLAINER_CACHE", str(blocker / "cache"))
    return blocker / "cache"


def test_unwritable_cache_is_one_sentence(unwritable_cache):
    spec = get_spec("smollm2-135m")
    assert not loading.is_prepared(spec)
    with pytest.raises(ModelUnavailable) as e:
        loading.prepare(spec)
    assert one_sentence(str(e.value)), str(e.value)
    assert "TX_CACHE_DIR" in str(e.value) and str(unwritable_cache) in str(e.value)


def test_unwritable_cache_in_the_app_says_so_and_the_other_model_works(unwritable_cache):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["model"] = "smollm2-135m"
    at.switch_page("app_pages/tokens.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and one_sentence(errors[0]) and "cannot be converted" in errors[0], errors
    at.selectbox(key="model").select("minilm-l6").run()  # the sidebar still works: switch to the encoder
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert at.session_state["active_model"] == "minilm-l6"
    # the Tokens page compares with the decoder's tokenizer, which cannot be prepared: one sentence there too
    assert [i.value for i in at.info if "cannot be converted" in i.value], [i.value for i in at.info]
    assert at.get("metric"), "the Tokens page did not draw"


# --------------------------------------------------------------------------------- hub unreachable
HUB_IDS = [m for m, s in REGISTRY.items() if not s.bundled]


@pytest.mark.parametrize("spec", PAGES, ids=lambda p: p.id)
def test_hub_model_while_offline_is_one_sentence_on_every_page(spec, monkeypatch):
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=2.0: False)
    monkeypatch.setattr(loading, "hub_cached", lambda s: False)
    hub_id = HUB_IDS[PAGES.index(spec) % len(HUB_IDS)]
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["model"] = hub_id
    switch_to(at, spec.file)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    label = REGISTRY[hub_id].label
    notices = [w.value for w in at.warning if label in w.value]
    assert len(notices) == 1 and one_sentence(notices[0]), [w.value for w in at.warning]
    fallback = at.session_state["active_model"]
    assert REGISTRY[fallback].bundled and REGISTRY[fallback].family == REGISTRY[hub_id].family
    assert at.title, "the page did not draw"


# ---------------------------------------------------------------------------------------- security
HOSTILE_MODEL_IDS = ["../../../../etc/passwd", "/tmp", "gpt2/../../x", "file:///etc/passwd", "~/.ssh/id_rsa",
                     "openai-community/gpt2", "hf-internal-testing/tiny-random-gpt2", "smollm2-135m ", "C:\\x"]


@pytest.mark.parametrize("spec", PAGES, ids=lambda p: p.id)
def test_no_url_value_reaches_model_loading_unless_a_registry_id(spec, monkeypatch):
    """Every call into the model/trace caches and into models.loading gets a registry id, whatever the link."""
    from components import cache

    seen: list[str] = []

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(first, *args, **kwargs):
            seen.append(getattr(first, "id", first))
            return real(first, *args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    for name in ("get_model", "get_tokenizer", "get_trace", "get_index", "resolve_model"):
        spy(cache, name)
    for name in ("load", "load_tokenizer", "load_tokenizer_only", "prepare", "weights_location"):
        spy(loading, name)
    hostile = HOSTILE_MODEL_IDS[PAGES.index(spec) % len(HOSTILE_MODEL_IDS)]
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["model"] = hostile
    for name in spec.params:  # the page's own parameters get the path too
        at.query_params[name] = hostile
    switch_to(at, spec.file)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert seen, "the spies saw no call: the test would pass vacuously"
    assert set(seen) <= set(REGISTRY), set(seen) - set(REGISTRY)
    assert any("link's model=" in w.value for w in at.warning)


SOURCES = [REPO / "app.py", REPO / "serve.py", *sorted((REPO / "models").rglob("*.py")),
           *sorted((REPO / "components").rglob("*.py")), *sorted((REPO / "app_pages").rglob("*.py"))]


def test_trust_remote_code_is_never_passed():
    """No source file passes trust_remote_code (nor builds kwargs that could carry it)."""
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in SOURCES for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"trust_remote_code", line) and not line.lstrip().startswith("#")]
    assert not offenders, offenders
    assert len(SOURCES) > 10


def test_loading_never_passes_trust_remote_code_at_run_time(monkeypatch):
    """The same at run time: every from_pretrained call made while loading both bundled models."""
    import transformers

    calls = []
    for cls_name in ("AutoTokenizer", "AutoModel", "AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoConfig"):
        cls = getattr(transformers, cls_name)
        real = cls.from_pretrained.__func__

        def wrapper(klass, *args, _real=real, **kwargs):
            calls.append(kwargs)
            return _real(klass, *args, **kwargs)
        monkeypatch.setattr(cls, "from_pretrained", classmethod(wrapper))
    for model_id in ("smollm2-135m", "minilm-l6"):
        loading.load(model_id)
    assert calls and not any(kw.get("trust_remote_code") for kw in calls)


def test_xsrf_protection_stays_on():
    from streamlit import config

    text = (REPO / ".streamlit" / "config.toml").read_text()
    assert not re.search(r"enableXsrfProtection\s*=\s*false", text, re.I)
    assert not re.search(r"enableCORS\s*=\s*false", text, re.I)  # Streamlit turns XSRF off when CORS is off
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        config.get_config_options(force_reparse=True)
        assert config.get_option("server.enableXsrfProtection") is True
        assert config.get_option("server.enableCORS") is True
    finally:
        os.chdir(cwd)
