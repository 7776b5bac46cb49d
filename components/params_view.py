"""The "Where the parameters are" section of the Overview: the loaded model's parameters by part (counted from
its own tensors, models/params.py), one block's split, and GPT-3 / BERT-base counted the same way."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from components.glossary import glossary_link as g
from components.params_plots import part_name, parameter_treemap
from components.widgets import show_chart
from i18n import N_, _
from models import params as P
from models.checkpoint import model_folder, sentence_recipe

# Column headers on screen (translated); the frames keep these English keys.
PART_COLUMNS = {"part": N_("part"), "shape": N_("shape"), "per block": N_("per block"),
                "parameters": N_("parameters"), "share": N_("share of the model"), "note": N_("note")}
REF_COLUMNS = {"model": N_("model"), "layers": N_("layers"), "d_model": "d_model", "heads": N_("heads"),
               "vocabulary": N_("vocabulary"), "context": N_("context window"),
               "embedding": N_("token embedding (vocabulary × d_model)"), "counted": N_("parameters (counted)"),
               "published": N_("published"), "embedding share": N_("embedding share"),
               "mlp share": N_("MLP share of a block")}


def _shape(shape: tuple[int, ...] | None) -> str:
    return " × ".join(f"{s:,}" for s in shape) if shape else ""


def part_rows(pc: P.ParamCount, no_head_reason: str | None = None, pooler_note: str = "") -> list[dict]:
    """One row per part, then the output head (even when it adds nothing) and the total. Counts are exact
    integers; ``share`` is a fraction of ``pc.total``."""
    rows = []
    per_block = pc.block if pc.blocks_alike else {}
    for part in pc.parts:
        note = ""
        if part.key == P.EMBEDDING and pc.tied:
            note = _("also the output head (tied: the same tensor, counted once)")
        elif part.key in P.BLOCK_PARTS:
            note = _("all {n} blocks").format(n=pc.n_blocks)
        elif part.key == P.POOLER:
            note = pooler_note
        elif part.key == P.HEAD and pc.tied:
            note = _("its weight is the token embedding (counted there); these are its own extra parameters")
        rows.append({"part": part_name(part.key), "shape": _shape(part.shape), "per block": per_block.get(part.key),
                     "parameters": part.count, "share": part.count / pc.total, "note": note})
    if pc.part(P.HEAD) is None:  # a head that adds no parameter of its own still gets its row
        if pc.tied:
            note = _("tied: the token embedding matrix, {V:,} × {d}, already counted").format(
                V=pc.vocab_size, d=pc.d_model)
        else:
            note = no_head_reason or _("none")
        rows.append({"part": part_name(P.HEAD), "shape": "", "per block": None, "parameters": 0, "share": 0.0,
                     "note": note})
    rows.append({"part": _("total"), "shape": "", "per block": pc.block_total if pc.blocks_alike else None,
                 "parameters": pc.total, "share": 1.0, "note": "sum(p.numel() for p in model.parameters())"})
    return rows


def reference_rows(pc: P.ParamCount, label: str, facts) -> list[dict]:
    """The loaded model next to GPT-3 and BERT-base, every count made by models.params on stock modules."""
    rows = [{"model": label, "layers": facts.n_layers, "d_model": pc.d_model, "heads": facts.n_heads,
             "vocabulary": pc.vocab_size, "context": facts.context_length, "embedding": pc.count(P.EMBEDDING),
             "counted": pc.total, "published": "", "embedding share": pc.share(P.EMBEDDING),
             "mlp share": pc.mlp_share_of_block}]
    for ref in P.REFERENCES:
        rc = P.reference_count(ref)
        rows.append({"model": ref.name, "layers": ref.layers, "d_model": ref.d_model, "heads": ref.heads,
                     "vocabulary": ref.vocab_size, "context": ref.context, "embedding": rc.count(P.EMBEDDING),
                     "counted": rc.total, "published": _compact(ref.published_total),
                     "embedding share": rc.share(P.EMBEDDING), "mlp share": rc.mlp_share_of_block})
    return rows


def share_text(x: float) -> str:
    """A share as a percentage that never reads 0% for a part that has parameters (768 of 22.7 M: 0.0034%)."""
    if x == 0 or x >= 0.001:
        return f"{x:.1%}"
    return f"{x * 100:.2g}%"


def _compact(n: int) -> str:
    return f"{n / 1e9:g} B" if n >= 1e9 else f"{n / 1e6:g} M"


def summary(pc: P.ParamCount, label: str, no_head_reason: str | None = None) -> list[str]:
    """Plain sentences with the live numbers (Markdown)."""
    emb = pc.part(P.EMBEDDING)
    out = [_("The token {embedding} is a {V:,} × {d} matrix: {n:,} parameters, {share:.1%} of {model}'s {total:,}.")
           .format(embedding=g("embedding"), V=pc.vocab_size, d=pc.d_model, n=emb.count if emb else 0,
                   share=pc.share(P.EMBEDDING), model=label, total=pc.total)]
    if pc.tied:
        out.append(_("The output head that turns the last vector into one logit per vocabulary entry uses the same "
                     "matrix (tied: one tensor, counted once), so it adds no parameters of its own."))
    elif pc.has_head:
        out.append(_("The output head has its own {n:,}-parameter matrix (not tied to the embedding).").format(
            n=pc.head_weight))
    elif no_head_reason:
        out.append(no_head_reason)
    if pc.n_blocks:
        b = pc.block
        which = _("Each block") if pc.blocks_alike else _("Block 1")
        out.append(_("{which} holds {total:,} parameters: {attention} {a:,}, MLP {m:,}, norms {n:,}. The MLP "
                     "(feed-forward network) is {share:.1%} of the block; over all {L} blocks it holds {all_m:,} "
                     "parameters, {model_share:.1%} of the model.").format(
            which=which, total=pc.block_total, attention=g("attention"), a=b.get(P.ATTENTION, 0),
            m=b.get(P.MLP, 0), n=b.get(P.BLOCK_NORMS, 0), share=pc.mlp_share_of_block, L=pc.n_blocks,
            all_m=pc.count(P.MLP), model_share=pc.share(P.MLP)))
    return out


def block_tensors(model, pc: P.ParamCount) -> pd.DataFrame:
    """Block 1's tensors: name, shape, parameters, part (the arithmetic behind the split)."""
    found = P.blocks_of(model)
    rows = []
    if found is not None:
        block = found[1][0]
        for path, p in block.named_parameters():
            owner = block.get_submodule(path.rsplit(".", 1)[0]) if "." in path else block
            rows.append({_("tensor"): path, _("shape"): _shape(tuple(p.shape)), _("parameters"): p.numel(),
                         _("part"): part_name(P.block_part(path, owner))})
    return pd.DataFrame(rows)


def pooler_note(lm) -> str:
    """What BERT's pooler is, and whether this model's sentence recipe (if it has one) uses it."""
    folder = model_folder(lm.spec, lm.model)
    recipe = sentence_recipe(folder) if folder is not None else None
    if recipe is not None and recipe.pooling == ("mean",):
        return _("a dense layer + tanh on the last vector of [CLS]; {model}'s sentence recipe averages the token "
                 "vectors instead, so it is not used").format(model=lm.spec.label)
    return _("a dense layer + tanh on the last vector of [CLS]")


def parameters_section(lm) -> None:
    """Draw the section (header, sentences, treemap, tables) for the loaded model."""
    pc = P.count_parameters(lm.model)
    no_head = _("{model} has no output head: it makes sentence vectors, not token predictions.").format(
        model=lm.spec.label) if not pc.has_head else None
    st.header(_("Where the parameters are"), anchor="parameters")
    st.markdown(" ".join(summary(pc, lm.spec.label, no_head)))
    show_chart(parameter_treemap(pc, lm.spec.label), "parameters")
    fmt = dict(hide_index=True, width="stretch")
    table = pd.DataFrame(part_rows(pc, no_head, pooler_note(lm) if pc.part(P.POOLER) else ""))
    # shown as text: blank (not "None") where a part is not per block, and a share too small to round to 0%
    table["per block"] = table["per block"].map(lambda n: "" if n is None or pd.isna(n) else f"{int(n):,}")
    table["share"] = table["share"].map(share_text)
    cols = {k: _(v) for k, v in PART_COLUMNS.items()}
    st.dataframe(table.rename(columns=cols), **fmt, column_config={
        cols["parameters"]: st.column_config.NumberColumn(format="localized"),
        cols["per block"]: st.column_config.TextColumn(alignment="right"),
        cols["share"]: st.column_config.TextColumn(alignment="right"),
    }, key="parameter_parts")
    st.caption(_("Counted from the loaded model's own tensors (`named_parameters()`): every tensor once, so the "
                 "total is `sum(p.numel() for p in model.parameters())`. Whether the head is tied is checked on the "
                 "tensors (the same memory), not read from the config."))
    with st.expander(_("The tensors of one block")):
        st.dataframe(block_tensors(lm.model, pc), **fmt, key="parameter_block")

    st.subheader(_("Next to GPT-3 and BERT-base"))
    refs = pd.DataFrame(reference_rows(pc, lm.spec.label, lm.facts))
    cols = {k: _(v) for k, v in REF_COLUMNS.items()}
    st.dataframe(refs.rename(columns=cols), **fmt, column_config={
        cols[k]: st.column_config.NumberColumn(format="localized") for k in ("vocabulary", "context", "embedding",
                                                                             "counted")} | {
        cols[k]: st.column_config.NumberColumn(format="percent") for k in ("embedding share", "mlp share")
    }, key="parameter_references")
    gpt3 = P.reference_count(P.GPT3)
    st.markdown(_(
        "GPT-3's token embedding, {V:,} × {d:,} = {emb:,} parameters, is only {share:.2%} of its parameters: in a "
        "big model almost everything is in the blocks, and {mlp:.1%} of every block is MLP. In {model} the "
        "embedding is {own:.1%}."
    ).format(V=P.GPT3.vocab_size, d=P.GPT3.d_model, emb=gpt3.count(P.EMBEDDING), share=gpt3.share(P.EMBEDDING),
             mlp=gpt3.mlp_share_of_block, model=lm.spec.label, own=pc.share(P.EMBEDDING)))
    st.caption(_(
        "GPT-3 and BERT-base are counted on stock transformers modules of their sizes, built on PyTorch's meta "
        "device (shapes only, no weights): GPT-3 as {gpt}, since its paper keeps GPT-2's architecture ({gpt3}); "
        "BERT-base as {bert} ({bert_paper}). The published totals are the papers' rounded figures."
    ).format(gpt=P.GPT3.built_as, gpt3=P.GPT3.source, bert=P.BERT_BASE.built_as, bert_paper=P.BERT_BASE.source))
