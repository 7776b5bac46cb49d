"""Sentences about the context window, chosen from what is loaded (models/window.py): the Tokens page's notice
when a text is cut, and the one line under the model facts card."""
from __future__ import annotations

from components.glossary import glossary_link as g
from components.literal import md_literal
from i18n import _
from models.window import Cut, Window

PREVIEW_CHARS = 40  # characters of the left-out text quoted in the notice


def why_window(window: Window, model: str) -> str:
    """Why ``model`` cannot attend past its window, for its kind of positions."""
    n, last = window.positions, window.positions - 1
    if window.kind == "learned":
        return _("{model}'s learned position table has {n:,} rows (positions 0–{last:,}): a token at position "
                 "{n:,} would have no position vector to add, so the model cannot read past it.").format(
            model=model, n=n, last=last)
    if window.kind == "rope":
        return _("{model} adds no position vector: RoPE rotates queries and keys by position, so no table runs out, "
                 "but the model was trained on texts of at most {n:,} tokens (`max_position_embeddings` in its "
                 "config), and rotation angles past that are ones it never met in training.").format(model=model, n=n)
    return _("{model}'s sine/cosine position waves could go on past position {last:,}, but the model was trained "
             "only up to there: later positions are ones it never met in training.").format(model=model, last=last)


def cut_notice(cut: Cut, window: Window, model: str, text: str) -> str:
    """Markdown for a text longer than what the pages analyse: which tokens are dropped, and why."""
    rest = text[cut.kept_chars:].lstrip()
    preview = rest[:PREVIEW_CHARS] + ("…" if len(rest) > PREVIEW_CHARS else "")
    out = [_("This text is {n:,} tokens long. The first {kept:,} (positions 0–{last:,}) are analysed and shown here; "
             "the other {dropped:,} tokens, the text from character {c:,} on ({preview}), are left out on every "
             "page.").format(n=cut.n_total, kept=cut.kept, last=cut.kept - 1, dropped=cut.dropped,
                             c=cut.kept_chars, preview=md_literal(preview) if preview else "—")]
    if cut.by_app and window.positions:
        out.append(_("{limit:,} is this app's limit, to keep every page quick: {model} itself can attend to "
                     "{window:,} tokens at once (its {context_window}).").format(
            limit=cut.limit, model=model, window=window.positions, context_window=g("context window")))
        if cut.past_window:
            out.append(_("This text is longer than that window too: even on its own, {model} could not attend to "
                         "all of it at once.").format(model=model))
            out.append(why_window(window, model))
    elif cut.by_app:
        out.append(_("{limit:,} is this app's limit, to keep every page quick.").format(limit=cut.limit))
    else:
        out.append(_("{limit:,} is {model}'s {context_window} itself.").format(
            limit=cut.limit, model=model, context_window=g("context window")))
        out.append(why_window(window, model))
    return " ".join(out)


def recipe_notice(n_total: int, window: Window, model: str) -> str | None:
    """For a sentence-transformers model, a text longer than its recipe's ``max_seq_length`` (256 for MiniLM):
    the library cuts there when it makes a sentence vector, below the model's position table."""
    limit = window.recipe_limit
    if not limit or n_total <= limit or (window.positions and limit >= window.positions):
        return None
    return _("sentence-transformers, the library this model is made for, reads only the first {limit:,} tokens of "
             "a text when it makes a sentence vector (`max_seq_length` in its `sentence_bert_config.json`), below "
             "{model}'s context window of {positions:,} tokens; the pages here analyse up to {analysed:,}.").format(
        limit=limit, model=model, positions=window.positions, analysed=window.analysed)


def facts_line(context_length: int, app_cap: int) -> str:
    """The line under the model facts card: what the context length means (linked to the glossary)."""
    return _("{context_window}: the most tokens the model can attend to at once ({n:,}); the pages analyse at "
             "most {cap:,} tokens of a text.").format(
        context_window=g("context window", _("Context length")), n=context_length,
        cap=min(app_cap, context_length) if context_length else app_cap)
