"""A selected edge's label reads in both themes (issue 22): the built stylesheet gives it the selection colour
behind text whose contrast with it is at least 4.5:1 (WCAG AA), in the light and in the dark colour set; so does
an unselected label."""

from __future__ import annotations

import pathlib
import re

import pytest

CSS = pathlib.Path(__file__).resolve().parents[1] / "ui/canvas/static/flow_canvas.css"


def colour_sets() -> dict[str, dict[str, str]]:
    """{'light': {var: value}, 'dark': {...}} from the built stylesheet's .nc-root and .nc-root.nc-dark rules."""
    text = CSS.read_text()
    sets = {}
    for theme, selector in (("light", r"\.nc-root\{"), ("dark", r"\.nc-root\.nc-dark\{")):
        body = re.search(selector + r"([^}]*)\}", text).group(1)
        sets[theme] = dict(re.findall(r"(--nc-[\w-]+):\s*([^;]+)", body))
    return sets


def rule(selector: str) -> dict[str, str]:
    """The declarations of the built stylesheet's rule for exactly this selector ({} when there is none)."""
    match = re.search(re.escape(selector) + r"\{([^}]*)\}", CSS.read_text())
    return dict(d.split(":", 1) for d in match.group(1).split(";") if ":" in d) if match else {}


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour.strip()[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def resolved(value: str, colours: dict[str, str]) -> str:
    name = re.fullmatch(r"var\((--nc-[\w-]+)\)", value.strip())
    return colours[name.group(1)] if name else value.strip()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_selected_edges_label_contrasts_with_its_background(theme):
    colours = colour_sets()[theme]
    text = rule(".nc-root .react-flow__edge.selected .nc-edge-label text")
    background = rule(".nc-root .react-flow__edge.selected .nc-edge-label rect")
    assert text and background, "no rule for a selected edge's label"
    fill, behind = resolved(text["fill"], colours), resolved(background["fill"], colours)
    assert contrast(fill, behind) >= 4.5, (theme, fill, behind)
    assert behind == colours["--nc-edge-selected"]  # the label takes the selection colour, as the edge does


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_an_unselected_label_contrasts_too(theme):
    colours = colour_sets()[theme]
    assert contrast(colours["--nc-label-text"], colours["--nc-label-bg"]) >= 4.5
