"""The words around the word-order demo (the text against its word reversal, with and without positions), for
the Embeddings page and the tour. Every sentence is chosen from the loaded model's facts (encoder or decoder,
RoPE or a position table) and every number in it is read from the computed curves: none is typed in.

What is true per family (TEACHING.md §3): an encoder's self-attention without positions ignores order, so an
encoder adds positions; a decoder's causal mask is already order-sensitive (each token sees a different prefix);
RoPE makes attention scores depend on the distance between tokens (only the rotation term is relative).
"""
from __future__ import annotations

import numpy as np

import i18n
from components.glossary import glossary_link as g
from components.widgets import md_literal, visible
from i18n import _
from models import bpe
from models import positions as pos
from models import similarity as sim

SAME = 1e-4  # a curve within this of 1 at every layer "stays at 1" (float32 rounding is ~1e-6)
CLOSE = 0.02  # two curves closer than this at a layer "barely differ" there
MAX_LISTED = 8  # left-out words named in a caption
MAX_DEMO_WORDS = 40  # a longer sidebar text is not reversed: the demo costs the text's trace + one forward of 3 rows


def family_truth(lm) -> str:
    """Where the order of the tokens comes from in this model."""
    f, model = lm.facts, lm.spec.label
    if f.family == "encoder":
        return i18n.sentences(
            _("An encoder's {attention} lets every token read every other token in the same way wherever it "
              "stands: without position information, the same tokens in another order would get exactly the same "
              "vectors.").format(attention=g("attention")),
            _("That is why {model} rotates each query and key by its position ({rope}).").format(
                model=model, rope=g("RoPE")) if f.positions == "rope" else
            _("That is why {model} adds a position vector to each token before the first layer.").format(model=model))
    mask = _("In a decoder the {causal_mask} already makes the order matter, with no position information at all: "
             "each token sees only the tokens before it, so the same words in another order see different "
             "prefixes.").format(causal_mask=g("causal mask"))
    if f.positions == "rope":
        how = _("{model} adds no position vector; {rope} rotates each query and key by its position, so attention "
                "scores also depend on how far apart two tokens are.").format(model=model, rope=g("RoPE"))
    elif f.positions == "learned":
        how = _("{model} also adds a learned position vector to each token before the first layer.").format(
            model=model)
    else:
        how = _("{model} also adds fixed sine/cosine waves to each token before the first layer.").format(model=model)
    return i18n.sentences(mask, how)


def demo(lm, text: str):
    """(the text compared, its OrderDemo) for this model: the sidebar's text against its word reversal, or the
    Tim sentence when that compares nothing (one word, a word palindrome, no word made of the same tokens in both
    texts) or when the text is longer than MAX_DEMO_WORDS words. The tour and the Embeddings page both show this, so the tour's "full page" link shows the same curves.
    ``NoPositionModule`` (a model whose positions cannot be switched off) reaches the caller."""
    from components.cache import get_order_demo
    from components.presets import TIM
    from models.trace import NoTokens

    if 2 <= len(text.split()) <= MAX_DEMO_WORDS and sim.reverse_words(text) != text:
        try:
            return text, get_order_demo(lm.spec.id, text)
        except (sim.NoSharedWord, NoTokens):
            pass
    return TIM, get_order_demo(lm.spec.id, TIM)


def switched_off(lm) -> str:
    """How the "without positions" run switches them off, for this model."""
    if lm.facts.positions == "rope":
        return _("every position id set to 0, so RoPE rotates nothing")
    return _("the position vectors replaced by zeros")


def curve_text(y: np.ndarray) -> str:
    """What a per-layer curve does, from its numbers: where it is lowest and whether it rises again."""
    s = sim.curve_shape(y)
    last = len(y) - 1
    if s.low_layer == last and s.rise < 0.005:
        return _("falls layer by layer from {start:.3f} at layer 0 to {end:.3f} after the last layer ({n})").format(
            start=s.start, end=s.end, n=last)
    if s.low_layer == last:
        return _("falls from {start:.3f} at layer 0 to its lowest, {end:.3f}, after the last layer ({n}), but not "
                 "steadily: it rises from {a:.3f} after layer {la} to {b:.3f} after layer {lb} on the way").format(
            start=s.start, end=s.end, n=last, a=y[s.rise_from], la=s.rise_from, b=y[s.rise_to], lb=s.rise_to)
    if s.low_layer == 0:
        return _("never falls below its value at layer 0 ({start:.3f}) and ends at {end:.3f} after the last layer "
                 "({n})").format(start=s.start, end=s.end, n=last)
    return _("goes from {start:.3f} at layer 0 down to its lowest, {low:.3f}, after layer {lo}, then rises again to "
             "{end:.3f} after the last layer ({n})").format(start=s.start, low=s.low, lo=s.low_layer, end=s.end,
                                                            n=last)


def bag_text(lm, od: sim.OrderDemo) -> str:
    """Are the two texts the same bag (multiset) of tokens? Computed, with the tokens that differ."""
    if od.same_multiset:
        return _("Both texts are exactly the same bag of tokens (the same token ids, as many times each), in two "
                 "orders.")
    byte_level = lm.facts.tokenizer.kind == "byte-level BPE"

    def shown(t: str) -> str:  # the app's one space marker: a byte-level "ĠTim" reads ␣Tim
        return md_literal(visible(bpe.readable(t) if byte_level else t))

    text = _("The two texts are not the same bag of tokens: {a} only in the first, {b} only in the second.").format(
        a=" ".join(shown(t) for t in od.only_a) or "–", b=" ".join(shown(t) for t in od.only_b) or "–")
    marker = lm.facts.tokenizer.marker
    if byte_level and marker and \
            sorted(t.replace(marker, "") for t in od.only_a) == sorted(t.replace(marker, "") for t in od.only_b):
        text = i18n.sentences(text, _("They are the same words: byte-level BPE writes a space before a word into its "
                                      "token ({marker}), and the first word of a text has no space before it.").format(
            marker=md_literal("␣")))
    return text


def matching_text(od: sim.OrderDemo) -> str:
    """Which tokens are compared, and how they are matched."""
    n_words = od.words - len(od.left_out)
    text = _("Compared: {k} of the {n} words ({tokens}), each matched with the same word in the other text, token by "
             "token; their input embedding rows are identical (cosine {static:.4f}).").format(
        k=n_words, n=od.words, tokens=" ".join(md_literal(visible(t)) for t in od.shared), static=float(od.static.min()))
    if od.left_out:
        listed = [_("{word} ({a} vs {b})").format(word=md_literal(w), a=" ".join(visible(t) for t in ta) or "–",
                                                  b=" ".join(visible(t) for t in tb) or "–")
                  for w, ta, tb in od.left_out[:MAX_LISTED]]
        more = len(od.left_out) - MAX_LISTED
        text = i18n.sentences(text, _("Left out, because a word is not the same tokens in both texts (or is past the "
                                      "tokens analysed): {words}{more}.").format(
            words=", ".join(listed), more=_(" and {n} more").format(n=more) if more > 0 else ""))
    return text


def layer0_text(lm, od: sim.OrderDemo) -> str:
    """The value at layer 0 and why it is (or is not) exactly 1 for this model."""
    y0 = float(od.per_layer[0])
    if pos.layer0_kind(lm) == "token":
        return _("At layer 0 the cosine is {cos:.4f}: {layer0}.").format(cos=y0, layer0=pos.layer0_text(lm))
    return _("At layer 0 the cosine is already {cos:.4f}, not 1: {layer0}, and the same word sits at a different "
             "position in each text.").format(cos=y0, layer0=pos.layer0_text(lm))


def comparison_text(lm, od: sim.OrderDemo) -> str:
    """The two curves against each other: which is lower, by how much, and what that says about this model."""
    with_pos, without = od.per_layer, od.without_positions
    L = len(with_pos) - 1
    off = switched_off(lm)
    if without.min() > 1 - SAME:
        return _("Without positions ({off}) the curve stays at 1 at every layer (lowest {low:.5f}): the model could "
                 "not tell the two orders apart, so every drop of the other curve comes from the positions.").format(
            off=off, low=float(without.min()))
    diff = with_pos - without  # < 0 where the curve with positions is lower
    gap_layer = int(np.argmax(np.abs(diff)))
    parts = [_("Without positions ({off}) the curve {shape}.").format(off=off, shape=curve_text(without))]
    if lm.facts.family == "decoder" and od.same_multiset:
        parts.append(_("The order still changes the vectors: that is the causal mask."))
    elif lm.facts.family == "decoder":
        parts.append(_("The vectors still differ: the causal mask gives each token a different prefix (here the two "
                       "texts also differ in {n} tokens).").format(n=len(od.only_a)))
    elif not od.same_multiset:
        parts.append(_("It still drops because the two texts are not the same bag of tokens."))
    lower = int((diff[1:] < 0).sum())
    parts.append(_("With positions the curve is lower after {k} of the {n} layers; the largest gap is {gap:.3f} at "
                   "layer {layer} ({a:.3f} with positions, {b:.3f} without).").format(
        k=lower, n=L, gap=abs(float(diff[gap_layer])), layer=gap_layer, a=float(with_pos[gap_layer]),
        b=float(without[gap_layer])))
    close = close_until(od)
    if lm.facts.family == "decoder" and close >= 1:
        if close == L:
            parts.append(_("At every layer the two curves differ by less than {tol}: in this example the drift comes "
                           "almost entirely from the mask, not from the positions.").format(tol=CLOSE))
        else:
            parts.append(_("Up to layer {l} the two curves differ by less than {tol}: there the drift comes almost "
                           "entirely from the mask; after that the positions add to it.").format(l=close, tol=CLOSE))
    return i18n.sentences(*parts)


def close_until(od: sim.OrderDemo) -> int:
    """The last layer l such that the two curves differ by less than CLOSE at every layer 1..l (0: not even at 1)."""
    diff = np.abs(od.per_layer - od.without_positions)
    close = 0
    while close < len(diff) - 1 and diff[close + 1] < CLOSE:
        close += 1
    return close


def short_comparison(lm, od: sim.OrderDemo) -> str:
    """The two curves in one or two sentences (the tour)."""
    s, w = sim.curve_shape(od.per_layer), sim.curve_shape(od.without_positions)
    if od.without_positions.min() > 1 - SAME:
        return _("Without positions the curve stays at 1: the two orders would give the same vectors. With them it "
                 "is lowest after layer {lo} ({low:.3f}).").format(lo=s.low_layer, low=s.low)
    if lm.facts.family == "decoder":
        text = _("Without positions the curve still falls (lowest {wlow:.3f}, after layer {wlo}): the mask already "
                 "tells the two orders apart. With positions it is lowest after layer {lo} ({low:.3f}).").format(
            wlow=w.low, wlo=w.low_layer, lo=s.low_layer, low=s.low)
        if not od.same_multiset:  # part of the drop is that some tokens differ, not only the order
            text = i18n.sentences(text, _("Here the two texts also differ in {n} tokens, which adds to the "
                                          "drop.").format(n=len(od.only_a)))
        close = close_until(od)
        if close >= 1:
            text = i18n.sentences(text, _("Up to layer {l} the two curves differ by less than {tol}.").format(
                l=close, tol=CLOSE))
        return text
    return _("Without positions the curve still falls (lowest {wlow:.3f}, after layer {wlo}) because the two texts are "
             "not the same bag of tokens. With positions it is lowest after layer {lo} ({low:.3f}).").format(
        wlow=w.low, wlo=w.low_layer, lo=s.low_layer, low=s.low)


def alt_text(lm, od: sim.OrderDemo) -> str:
    """Alt text of the two-curve chart, with its numbers."""
    s, w = sim.curve_shape(od.per_layer), sim.curve_shape(od.without_positions)
    with_pos = _("Two lines: mean cosine per layer between the same tokens in the text and in its word reversal. With "
                 "positions it is {start:.3f} at layer 0, lowest ({low:.3f}) after layer {lo} and {end:.3f} after the "
                 "last layer.").format(start=s.start, low=s.low, lo=s.low_layer, end=s.end)
    if od.without_positions.min() > 1 - SAME:
        without = _("Without positions it stays at 1 at every layer.")
    else:
        without = _("Without positions it is {start:.3f} at layer 0, lowest ({low:.3f}) after layer {lo} and {end:.3f} "
                    "after the last layer.").format(start=w.start, low=w.low, lo=w.low_layer, end=w.end)
    return i18n.sentences(with_pos, without)


def repeated_token_text(trace) -> str:
    """The cosine at layer 0 between two occurrences of the same token in the text (the first token that appears
    twice, special tokens left out), or "" when no token repeats."""
    seen: dict[int, int] = {}
    for i, (t, special) in enumerate(zip(trace.ids.tolist(), trace.special.tolist())):
        if special:
            continue
        if t in seen:
            j = seen[t]
            return _("Here {token} appears at positions {i} and {j}: cosine {cos:.4f} at layer 0.").format(
                token=md_literal(visible(trace.tokens[i])), i=j, j=i,
                cos=sim.cosine(trace.hidden_states[0, j], trace.hidden_states[0, i]))
        seen[t] = i
    return ""
