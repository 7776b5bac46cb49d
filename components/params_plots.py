"""Pure figure builder for "Where the parameters are": a ParamCount in, a plotly treemap out (no streamlit)."""
from __future__ import annotations


import plotly.graph_objects as go

from components.plots import FONT, plotly_text
from i18n import N_, _
from models import params as P

# Display names of the parts (catalogue entries; translated where shown).
PART_NAMES = {
    P.EMBEDDING: N_("token embedding"),
    P.POSITION: N_("position embedding"),
    P.TOKEN_TYPE: N_("token-type embedding"),
    P.EMBEDDING_NORM: N_("embedding norm"),
    P.ATTENTION: N_("attention"),
    P.MLP: N_("MLP (feed-forward)"),
    P.BLOCK_NORMS: N_("norms in the blocks"),
    P.BLOCK_OTHER: N_("other block parameters"),
    P.FINAL_NORM: N_("final norm"),
    P.POOLER: N_("pooler"),
    P.HEAD: N_("output head"),
    P.OTHER: N_("other"),
}
COLOURS = {
    P.EMBEDDING: "#2563eb", P.POSITION: "#60a5fa", P.TOKEN_TYPE: "#93c5fd", P.EMBEDDING_NORM: "#9ca3af",
    P.ATTENTION: "#f59e0b", P.MLP: "#10b981", P.BLOCK_NORMS: "#9ca3af", P.BLOCK_OTHER: "#d1d5db",
    P.FINAL_NORM: "#6b7280", P.POOLER: "#a16207", P.HEAD: "#8b5cf6", P.OTHER: "#d1d5db",
}


def part_name(key: str) -> str:
    return _(PART_NAMES[key])


def parameter_treemap(pc: P.ParamCount, model_label: str) -> go.Figure:
    """Boxes with areas proportional to parameter counts: the model, then its parts; the blocks are one box
    (all blocks together) split into attention / MLP / norms. Areas add up (``branchvalues="total"``): the root
    is ``pc.total``."""
    root = "root"
    ids, labels, parents, values, colours = [root], [plotly_text(model_label)], [""], [pc.total], ["#f3f4f6"]
    blocks_id = "blocks"
    for part in pc.parts:
        if part.key in P.BLOCK_PARTS:
            continue
        name = part_name(part.key)
        if part.key == P.EMBEDDING and pc.tied:
            name = _("{part} (also the output head: tied)").format(part=name)
        ids.append(part.key)
        labels.append(name)
        parents.append(root)
        values.append(part.count)
        colours.append(COLOURS[part.key])
    if pc.n_blocks:
        ids.append(blocks_id)
        labels.append(_("{n} blocks").format(n=pc.n_blocks))
        parents.append(root)
        values.append(pc.all_blocks)
        colours.append("#fef3c7")
        for key in P.BLOCK_PARTS:
            n = pc.count(key)
            if n:
                ids.append(f"{blocks_id}/{key}")
                labels.append(part_name(key))
                parents.append(blocks_id)
                values.append(n)
                colours.append(COLOURS[key])
    parameters = _("parameters")
    of_model = _("of the model")
    fig = go.Figure(go.Treemap(
        ids=ids, labels=labels, parents=parents, values=values, branchvalues="total",
        marker=dict(colors=colours), sort=False,
        texttemplate="<b>%{label}</b><br>%{value:,}<br>%{percentRoot:.1%}",
        hovertemplate=f"%{{label}}<br>%{{value:,}} {parameters}<br>%{{percentRoot:.2%}} {of_model}<extra></extra>",
    ))
    title = _("Where the {n:,} parameters of {model} are").format(n=pc.total, model=model_label)
    fig.update_layout(title=plotly_text(title), font=FONT, height=460, margin=dict(l=10, r=10, t=50, b=10))
    return fig
