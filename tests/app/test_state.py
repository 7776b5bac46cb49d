"""URL parsing helpers of components.state (the rules every page's query params go through)."""
import pytest

from components import state


def test_clean_text_replaces_lone_surrogates_and_caps_length():
    # A browser never sends a lone surrogate, but Python strings can hold one; it must never crash encoding.
    cleaned = state.clean_text("bad \ud800 half")
    assert cleaned == "bad \ufffd half"
    cleaned.encode("utf-8")  # valid UTF-8 now
    assert len(state.clean_text("x" * (state.MAX_TEXT_CHARS + 10))) == state.MAX_TEXT_CHARS
    assert state.clean_text("中文 👩‍👩‍👧 \u202eRTL") == "中文 👩‍👩‍👧 \u202eRTL"


@pytest.mark.parametrize("raw, expected", [("0", 0), ("7", 7), (" 12 ", 12), ("3.0", 3), ("511", 511)])
def test_int_in_accepts(raw, expected):
    assert state.int_in(0, 511)(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "-1", "512", "2.5", "nan", "inf", "-inf", "1e400", "0x10", "١٢"])
def test_int_in_rejects_with_reason(raw):
    with pytest.raises(ValueError) as e:
        state.int_in(0, 511)(raw)
    assert str(e.value)


def test_parse_model_accepts_registry_ids_only():
    assert state.parse_model("minilm-l6") == "minilm-l6"
    for bad in ["", "gpt3", "../models", "/etc/passwd", "openai-community/gpt2", "SMOLLM2-135M"]:
        with pytest.raises(ValueError):
            state.parse_model(bad)
