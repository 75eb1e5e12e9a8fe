"""The templates gallery (a dialog of the Build page's toolbar): a filter by tag and words above one card per
template, each with a drawing of its graph, its tags (dataset, task, learning rule), its description and Load.

The dialog stays open across reruns while `OPEN_KEY` is set: the Templates button sets it, Load and closing the
dialog clear it. (A dialog is a fragment in the browser, so a filter change reruns only the dialog; a full
rerun, as AppTest makes, draws it again with the same filter.)
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from builder.editor.graph_svg import graph_svg
from builder.library.template_tags import RULE_LABELS, TemplateTags, matching, template_tags
from builder.library.templates import TEMPLATES

OPEN_KEY = "gallery_open"
FILTER_KEYS = {"dataset": "gallery_dataset", "task": "gallery_task", "rule": "gallery_rule"}
SEARCH_KEY = "gallery_search"
COLUMNS = 4
BADGE_COLOURS = {"dataset": "blue", "task": "green", "rule": "orange"}


@st.cache_data(show_spinner=False)
def template_svg(name: str) -> str:
    """The drawing of a template's graph; templates do not change while the server runs."""
    return graph_svg(TEMPLATES[name].spec(), width=240, max_height=150)


@st.cache_data(show_spinner=False)
def all_tags() -> dict[str, TemplateTags]:
    return {name: template_tags(template) for name, template in TEMPLATES.items()}


def open_gallery() -> None:
    st.session_state[OPEN_KEY] = True


def close_gallery() -> None:
    st.session_state[OPEN_KEY] = False


def gallery_is_open() -> bool:
    return bool(st.session_state.get(OPEN_KEY))


def _tag_choices() -> dict[str, list[str]]:
    """tag -> its values over all templates, in first-seen order."""
    tags = all_tags().values()
    return {key: list(dict.fromkeys(getattr(t, key) for t in tags)) for key in FILTER_KEYS}


def _filters() -> tuple[dict[str, str | None], str]:
    """The filter row: a text search and one select box per tag (empty: any). Returns (tag -> value, text)."""
    choices = _tag_choices()
    search, *tag_columns = st.columns([2, 1, 1, 1])
    text = search.text_input("Search", key=SEARCH_KEY, placeholder="words in the title, description or tags")
    chosen = {}
    for column, (tag, key) in zip(tag_columns, FILTER_KEYS.items()):
        label = "Learning rule" if tag == "rule" else tag.capitalize()
        chosen[tag] = column.selectbox(
            label,
            choices[tag],
            index=None,
            key=key,
            placeholder="any",
            format_func=(lambda r: RULE_LABELS.get(r, r)) if tag == "rule" else str,
        )
    return chosen, text


def _badges(tags: TemplateTags) -> str:
    shown = {"dataset": tags.dataset, "task": tags.task, "rule": tags.rule_label}
    return " ".join(f":{BADGE_COLOURS[key]}-badge[{value}]" for key, value in shown.items())


def _card(name: str, on_load: Callable[[str], None]) -> None:
    template = TEMPLATES[name]
    st.markdown(f"**{template.title}**")
    st.image(template_svg(name), alt=f"The graph of {template.title}")  # an <img>: st.html would drop the SVG
    st.markdown(_badges(all_tags()[name]))
    st.caption(template.description)
    st.button(
        "Load", key=f"template_{name}", help=f"Replace the graph with {template.title}", on_click=on_load, args=(name,)
    )


@st.dialog("Templates", width="large", on_dismiss=close_gallery)
def draw_gallery(on_load: Callable[[str], None]) -> None:
    """The dialog; `on_load(name)` loads a template (and should call close_gallery)."""
    if not gallery_is_open():  # Load's callback has run: redraw the page (a dialog's own rerun would not) at once
        st.rerun()
    st.caption("Each template is a ready-made network with the training settings it learns with.")
    chosen, text = _filters()
    names = matching(TEMPLATES, text=text, **chosen)
    st.caption(f"{len(names)} of {len(TEMPLATES)} templates match" if names else "No template matches the filter.")
    for start in range(0, len(names), COLUMNS):
        for column, name in zip(st.columns(COLUMNS), names[start : start + COLUMNS]):
            with column.container(border=True):
                _card(name, on_load)
