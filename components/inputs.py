"""What a model is given as input, beyond one plain text: two lessons on the Tokens page and the chat input of the
Generate page.

* A sentence pair for encoders: the tokenizer's own pair encoding, its segment (token type) ids, and BERT's
  next-sentence prediction when the checkpoint has that head (models/pairs.py).
* A conversation for chat models: the tokenizer's own chat template, its role markers and special tokens
  (models/chat.py); on the Generate page the templated conversation becomes the prompt.

The pages define the URL parameters (``state.Param``) and hand their keys to the functions below; the work is done
in models/, this file draws. Everything from the user reaching HTML is escaped.
"""
from __future__ import annotations

import html
import urllib.parse
from collections import Counter
from typing import Any, Callable

import streamlit as st

from components import state
from components.glossary import with_language
from components.widgets import CHIP_COLOURS, CHIP_CSS, chip_title, md_literal, visible
import i18n
from i18n import N_, _, sentences
from models.chat import ChatTemplateError, ChatTokens, chat_tokens, conversation, has_chat_template
from models.generation import MAX_PROMPT_TOKENS
from models.pairs import Pair, Segments, encode_pair, next_sentence, nsp_head, segment_support
from models.tokens import MAX_TOKENS, PieceInfo

MAX_SENTENCE_CHARS = 1_000
# BERT paper's own examples (Devlin et al. 2019, appendix A.1): B that followed A, and a random B
DEFAULT_A = "the man went to the store"
DEFAULT_B = "he bought a gallon of milk"
UNRELATED_B = "penguins are flightless birds"
DEFAULT_MESSAGE = N_("What is the capital of France?")  # translated where it becomes a widget default
INPUT_MODES = ("text", "chat")
INPUT_LABELS = {"text": N_("The sidebar text"), "chat": N_("A chat message")}  # translated where shown

EXTRA_CSS = """
<style>
.tx-chip.tx-seg-a {background:#dbeafe !important;}
.tx-chip.tx-seg-b {background:#fed7aa !important;}
.tx-chip.tx-special.tx-seg-a, .tx-chip.tx-special.tx-seg-b {background:#e5e7eb !important;}
.tx-seg {font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:0.72rem; font-weight:700;
  margin-top:2px; padding:0 5px; border-radius:3px; background:rgba(255,255,255,0.75); color:#1f2937;}
.tx-chip.tx-template {background:#ede9fe !important; border:1px dotted #6d28d9;}
.tx-chip.tx-template.tx-special {background:#ddd6fe !important; border:1px dashed #5b21b6; font-weight:600;}
.tx-chat {font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:0.9rem; white-space:pre-wrap;
  word-break:break-word; background:#f9fafb; border:1px solid #e5e7eb; border-radius:6px; padding:8px 10px;}
.tx-chat .tx-tpl {color:#5b21b6; background:#ede9fe;}
.tx-chat .tx-nl {color:#9ca3af;}
</style>
"""


def text_up_to(n: int) -> Callable[[str], str]:
    """A text parameter of at most ``n`` characters (after cleaning); a longer one is refused with its reason."""
    def parse(value: str) -> str:
        value = state.clean_text(value)
        if len(value) > n:
            raise state.BadParam(_("longer than {n:,} characters").format(n=n))
        return value

    return parse


# ------------------------------------------------------------------------------------------ chips
def _chips(pieces: list[PieceInfo], extra: Callable[[PieceInfo], tuple[list[str], str, str, str]]) -> str:
    """Token chips like components.widgets.chips_html, plus per chip: extra classes, a third line, an extra title
    line and extra data attributes (from ``extra``). Everything from the text is escaped."""
    parts = ['<div class="tx-chips" role="list">']
    for p in pieces:
        classes, badge, note, attrs = extra(p)
        classes = ["tx-chip"] + (["tx-special"] if p.special else []) + (["tx-partial"] if p.partial else []) + \
            (["tx-unk"] if p.unknown else []) + classes
        title = chip_title(p) + (f"\n{note}" if note else "")
        parts.append(
            f'<span class="{" ".join(classes)}" role="listitem" style="background:{CHIP_COLOURS[p.index % len(CHIP_COLOURS)]}" '
            f'data-index="{p.index}" data-id="{p.id}"{attrs} title="{html.escape(title, quote=True)}">'
            f'<span class="tx-piece">{html.escape(visible(p.display))}</span>'
            f'<span class="tx-id">{p.id}</span>'
            + (f'<span class="tx-seg">{html.escape(badge)}</span>' if badge else "") + "</span>"
        )
    parts.append("</div>")
    return "".join(parts)


def pair_chips_html(pair: Pair) -> str:
    """Chips of a sentence pair: coloured by the sentence each token came from, with the tokenizer's segment id
    (token type id) under the token id when the tokenizer gives one (``data-segment``)."""
    def extra(p: PieceInfo):
        seq = pair.sequence[p.index]
        classes = {0: ["tx-seg-a"], 1: ["tx-seg-b"]}.get(seq, [])
        if pair.segments is None:
            return classes, "", "", ""
        seg = int(pair.segments[p.index])
        return (classes, str(seg), _("segment (token type) id: {s}").format(s=seg), f' data-segment="{seg}"')

    return _chips(pair.pieces, extra)


def chat_text_html(ct: ChatTokens) -> str:
    """The exact text the template produced, in a <pre>: what the template wrote in purple, the messages' text as
    typed; each newline is kept and also shown as a grey ⏎ (a chat template is full of them). Escaped."""
    def run(text: str, template: bool) -> str:
        body = html.escape(text).replace("\n", '<span class="tx-nl">⏎</span>\n')
        return f'<span class="tx-tpl">{body}</span>' if template and text else body

    spans = ct.message_spans if ct.from_message is not None else []
    out, pos = [], 0
    for s, e in spans:
        out += [run(ct.text[pos:s], True), run(ct.text[s:e], False)]
        pos = e
    out.append(run(ct.text[pos:], bool(spans)))
    return f'<pre class="tx-chat" data-testid="tx-chat-text">{"".join(out)}</pre>'


def chat_chips_html(ct: ChatTokens) -> str:
    """Chips of a templated conversation: what the template added (``data-origin="template"``, purple) and the text
    of the messages (``data-origin="message"``)."""
    def extra(p: PieceInfo):
        if ct.from_message is None:
            return [], "", "", ""
        mine = ct.from_message[p.index]
        note = _("text of your message") if mine else _("added by the chat template")
        return ([] if mine else ["tx-template"]), "", note, f' data-origin="{"message" if mine else "template"}"'

    return _chips(ct.pieces, extra)


# ------------------------------------------------------------------------------------------ pair view
@st.cache_resource(show_spinner=False, max_entries=4)
def _nsp(model_id: str, _lm: Any):
    """(status, head) of a model's next-sentence-prediction head, read once per model from its checkpoint."""
    return nsp_head(_lm)


def _code(token: str) -> str:
    return md_literal(token)


def _join(items: list[str]) -> str:
    """A list in running text: "a, b" in English, "a、b" in Chinese."""
    return ("、" if i18n.language() == "zh" else ", ").join(items)


def segment_sentences(label: str, seg: Segments, pair: Pair, sep: str) -> str:
    """What the loaded model does with the segment ids: from its config, its embeddings and the tokenizer's output."""
    sep = _code(sep)
    if pair.segments is not None and seg.table_rows and seg.table_rows >= 2:
        first = _("{model} adds a learned **segment embedding** to every token's input vector, with the token and "
                  "position embeddings: one of the {rows} rows of its segment table (`type_vocab_size` = {rows}), "
                  "chosen by the segment id under each chip.").format(model=label, rows=seg.table_rows)
        segs, seq = pair.segments.tolist(), pair.sequence
        if all(s == q for s, q in zip(segs, seq) if q is not None):  # A's words 0, B's words 1
            added = {k: _join([f"{_code(p.raw)} #{p.index}" for p in pair.pieces
                               if seq[p.index] is None and segs[p.index] == k]) or _("no special token")
                     for k in (0, 1)}
            return sentences(first, _("The tokenizer gives segment 0 to the tokens of sentence A and to {zero}; "
                                      "segment 1 to those of sentence B and to {one}.").format(zero=added[0],
                                                                                                one=added[1]))
        return first
    if pair.segments is not None and seg.table_rows == 1:
        return _("{model}'s segment table has a single row (`type_vocab_size` = 1): every token gets the same "
                 "segment embedding, so only the separator {sep} marks where sentence B starts.").format(
            model=label, sep=sep)
    if pair.segments is not None:
        return _("{model}'s tokenizer returns segment ids, but the model has no segment embeddings and does not use "
                 "them: only the separator {sep} marks where sentence B starts.").format(model=label, sep=sep)
    if seg.table_rows:
        return _("{model}'s tokenizer returns no segment ids, so the model gives every token row 0 of its segment "
                 "table: only the separator {sep} marks where sentence B starts.").format(model=label, sep=sep)
    return _("{model} has no segment embeddings (no `type_vocab_size` in its configuration) and its tokenizer returns "
             "no segment ids: only the separator {sep} marks where sentence B starts.").format(model=label, sep=sep)


def _toggle_b(key: str) -> None:
    st.session_state[key] = DEFAULT_B if st.session_state.get(key) == UNRELATED_B else UNRELATED_B
    state.forget_warning(key)


def pair_view(lm: Any, a_key: str, b_key: str) -> None:
    """Sentence A and B as one input (encoders): chips with segment ids, what the model does with them, and
    P(B follows A) from the checkpoint's NSP head when it has one."""
    tok, label = lm.tokenizer, lm.spec.label
    st.subheader(_("Two sentences as one input"))
    st.markdown(_(
        "An encoder can read two sentences as one input, joined by its tokenizer's own pair template "
        "(`tokenizer(a, b)`). BERT was trained on such pairs, with a second task besides filling in blanks: "
        "**next-sentence prediction**, where the final `[CLS]` vector says whether B is the sentence that followed A "
        "in the text or a random one."))
    c1, c2 = st.columns(2)
    c1.text_input(_("Sentence A"), key=a_key, max_chars=MAX_SENTENCE_CHARS, on_change=state.forget_warning,
                  args=(a_key,))
    c2.text_input(_("Sentence B"), key=b_key, max_chars=MAX_SENTENCE_CHARS, on_change=state.forget_warning,
                  args=(b_key,))
    unrelated = st.session_state.get(b_key) == UNRELATED_B
    st.button(_("Use the sentence that follows A") if unrelated else _("Use an unrelated sentence B"),
              key="pair_toggle", on_click=_toggle_b, args=(b_key,), icon=":material/swap_horiz:",
              help=_("The two examples of the BERT paper: a B that followed A, and a random one."))
    a, b = st.session_state.get(a_key, ""), st.session_state.get(b_key, "")
    if not a.strip() or not b.strip():
        st.info(_("Type both sentences to see them as one input."), icon="✍️")
        return
    limit = min(MAX_TOKENS, lm.facts.context_length)
    pair = encode_pair(tok, a, b, lm.facts.tokenizer.kind, max_tokens=limit, lock=lm.tokenizer_lock)
    st.html(CHIP_CSS + EXTRA_CSS + pair_chips_html(pair))
    if pair.segments is not None:
        legend = _("Blue: sentence A · orange: sentence B · grey, dashed: special tokens added by the tokenizer. Under "
                   "each id: the token's segment (token type) id, as the tokenizer returns it.")
    else:
        legend = _("Blue: sentence A · orange: sentence B · grey, dashed: special tokens added by the tokenizer. This "
                   "tokenizer returns no segment (token type) ids.")
    st.caption(legend)
    if pair.truncated:
        st.info(_("Together the two sentences are {n:,} tokens; the tokenizer cut the longer one so that the pair "
                  "fits in {most:,}.").format(n=pair.n_total, most=limit), icon="✂️")
    st.markdown(segment_sentences(label, segment_support(lm.model, tok), pair, tok.sep_token or ""))

    status, head = _nsp(lm.spec.id, lm)
    if status == "present":
        result = next_sentence(lm, head, pair)
        m, text = st.columns([1, 3])
        m.metric(_("P(B follows A)"), f"{result.p_next:.1%}")
        text.markdown(_(
            "From {model}'s own **next-sentence-prediction head**, read from its checkpoint (`{key}`): the final "
            "{cls} vector goes through the pooler (a dense layer and tanh) and a two-way classifier; the softmax of "
            "its two logits ({is_next:.2f} for IsNext, {not_next:.2f} for NotNext) is the probability that B is the "
            "sentence that followed A."
        ).format(model=label, key=head.keys[2], cls=_code(tok.cls_token or ""), is_next=float(result.logits[0]),
                 not_next=float(result.logits[1])))
    elif status == "absent":
        st.markdown(_("{model}'s checkpoint has no next-sentence-prediction head (no `cls.seq_relationship` weights "
                      "in its files), so this model cannot say whether B follows A.").format(model=label))
    else:
        st.markdown(_("{model}'s weights are not available here as safetensors files, so whether its checkpoint has a "
                      "next-sentence-prediction head cannot be checked.").format(model=label))


# ------------------------------------------------------------------------------------------ chat view
def _specials(ct: ChatTokens, tokenizer: Any) -> str:
    """"`<|im_start|>` (id 1) × 3, ..." for the special tokens of the whole conversation, in order of appearance."""
    specials = set(getattr(tokenizer, "all_special_ids", [])) - {tokenizer.unk_token_id}
    counts = Counter(i for i in ct.ids if i in specials)
    return _join([_("{token} (id {id}) × {n}").format(token=_code(tokenizer.convert_ids_to_tokens(i)), id=i, n=n)
                  for i, n in counts.items()])


def _link(page: str, **params: str) -> str:
    """A link to another page of the app with these params (empty ones left out), the sidebar text when it is short
    enough for a link, and the session's language."""
    text = state.current_text()
    if len(text) <= state.MAX_URL_TEXT:
        params = {**params, "text": text}
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v}, quote_via=urllib.parse.quote)
    return with_language(f"{page}?{query}")


def _chat_inputs(message_key: str, system_key: str) -> tuple[str, str]:
    """The system message and the user message side by side (Tokens and Generate); returns (message, system)."""
    c1, c2 = st.columns([2, 3])
    c1.text_input(_("System message (optional)"), key=system_key, max_chars=MAX_SENTENCE_CHARS,
                  on_change=state.forget_warning, args=(system_key,))
    c2.text_input(_("User message"), key=message_key, max_chars=MAX_SENTENCE_CHARS, on_change=state.forget_warning,
                  args=(message_key,))
    return st.session_state.get(message_key, ""), st.session_state.get(system_key, "")


def chat_view(lm: Any, message_key: str, system_key: str) -> None:
    """A one-turn conversation rendered by the tokenizer's own chat template, as chips and as exact text; one
    sentence for a model whose tokenizer has no template."""
    tok, label = lm.tokenizer, lm.spec.label
    st.subheader(_("A conversation as tokens"))
    if not has_chat_template(tok):
        st.markdown(_("{model}'s tokenizer has no chat template (`tokenizer.chat_template` is empty), so there is no "
                      "conversation format to show for this model.").format(model=label))
        return
    st.markdown(_(
        "{model}'s tokenizer carries a **chat template**: the fixed format in which a conversation is given to the "
        "model, with role markers and special tokens around each message. Below, your message as the tokenizer's "
        "own `apply_chat_template(..., add_generation_prompt=True)` writes it, cut into tokens.").format(model=label))
    message, system = _chat_inputs(message_key, system_key)
    if not message.strip():
        st.info(_("Type a message to see it as the model receives it."), icon="✍️")
        return
    try:
        ct = chat_tokens(tok, conversation(message, system), lm.facts.tokenizer.kind, lock=lm.tokenizer_lock)
    except ChatTemplateError as e:
        st.warning(str(e), icon="⚠️")
        return
    st.html(CHIP_CSS + EXTRA_CSS + chat_chips_html(ct))
    if ct.from_message is not None:
        st.caption(_("Purple: added by the chat template (dashed: special tokens) · other colours: the text of your "
                     "messages. Hover a chip for details."))
        added = ct.added_by_template  # counted over the chips shown
        mine = len(ct.pieces) - added
        if ct.truncated:
            count = _("{n:,} tokens; of the first {shown:,}, {mine:,} come from your messages and {added:,} were added "
                      "by the template.").format(n=ct.n_total, shown=len(ct.pieces), mine=mine, added=added)
        else:
            count = _("{n:,} tokens: {mine:,} from your messages, {added:,} added by the template.").format(
                n=ct.n_total, mine=mine, added=added)
    else:
        count = _("{n:,} tokens (the template changes the text of the messages, so they are not told apart from what "
                  "it added).").format(n=ct.n_total)
    parts = [count]
    if ct.default_system:
        parts.append(_("You gave no system message, yet the template wrote a system turn of its own (in purple), so "
                       "the model sees one anyway."))
    specials = _specials(ct, tok)
    if specials:
        parts.append(_("Special tokens: {list}.").format(list=specials))
    if ct.generation_prompt:
        parts.append(_("The text ends with {prompt}, appended by `add_generation_prompt=True`: it opens the "
                       "assistant's turn, so the next token the model writes is the start of its reply.").format(
            prompt=md_literal(ct.generation_prompt)))
    st.markdown(sentences(*parts))
    if ct.truncated:
        st.info(_("The conversation is {n:,} tokens; the first {most:,} are shown.").format(
            n=ct.n_total, most=len(ct.pieces)), icon="✂️")
    st.caption(_("The exact text the template produced (special tokens included; ⏎ marks a newline):"))
    st.html(EXTRA_CSS + chat_text_html(ct))
    if lm.spec.family == "decoder":
        url = _link("generate", model=lm.spec.id, input="chat", message=message, system=system)
        if len(url) <= 4 * state.MAX_URL_TEXT:
            st.markdown(_("[Let the model answer this message on the Generate page]({url}).").format(url=url))


# ------------------------------------------------------------------------------------- generate: chat input
def chat_prompt(lm: Any, tools: Any, engine: Any, b: state.Bound, input_key: str, message_key: str,
                system_key: str) -> list[int] | None:
    """The Generate page's input: the sidebar text (returns None) or a chat message (returns the ids of the
    templated conversation, ``apply_chat_template(..., add_generation_prompt=True)``). When the chat cannot be sent
    (no message, template refused, too long) it says why and ends the page run with ``b.stop()`` (the page's
    :class:`components.state.Bound`, which writes the URL first)."""
    label = lm.spec.label
    if not has_chat_template(lm.tokenizer):
        if st.session_state.get(input_key) == "chat":
            st.warning(_("{model}'s tokenizer has no chat template, so it cannot answer a chat message; it continues "
                         "the sidebar text instead.").format(model=label), icon="⚠️")
            st.session_state[input_key] = "text"
        return None
    st.radio(_("Input"), INPUT_MODES, key=input_key, horizontal=True, format_func=lambda m: _(INPUT_LABELS[m]),
             on_change=state.forget_warning, args=(input_key,))
    if st.session_state[input_key] != "chat":
        return None
    message, system = _chat_inputs(message_key, system_key)

    def stop(kind: Callable, text: str) -> None:
        kind(text, icon="✍️" if kind is st.info else "⚠️")
        b.stop()

    if not message.strip():
        stop(st.info, _("Type a message for the model to answer."))
    try:
        ids = tools.chat(conversation(message, system))
    except ChatTemplateError as e:
        stop(st.warning, str(e))
    if len(ids) > MAX_PROMPT_TOKENS:
        stop(st.warning, _("The conversation is {n:,} tokens; the generation engine takes at most {most:,}: shorten "
                           "the messages.").format(n=len(ids), most=MAX_PROMPT_TOKENS))
    stops = " / ".join(md_literal(tools.token(i)) for i in sorted(engine.stop_ids))
    tokens_url = _link("tokens", model=lm.spec.id, message=message, system=system)
    st.caption(_(
        "The prompt is the conversation as {model}'s chat template writes it ({n:,} tokens, ending with the header "
        "of the assistant's turn); the model writes the assistant's reply and stops when it produces {stops}, or at "
        "the maximum number of new tokens. [See these tokens on the Tokens page]({url})."
    ).format(model=label, n=len(ids), stops=stops, url=tokens_url))
    return ids
