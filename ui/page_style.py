"""The app's own CSS, put on every page by app.py: room above the main block for the canvas, and select menus as
wide as their longest option (up to 40rem) with longer options wrapped instead of cut with "…"."""

from __future__ import annotations

import streamlit as st

MENU = "[data-testid='stSelectboxVirtualDropdown']"
APP_CSS = f"""
[data-testid='stMainBlockContainer'] {{padding-top: 2.5rem}}
{MENU} {{width: max-content !important; min-width: var(--trigger-width); max-width: min(40rem, 90vw)}}
{MENU} [role='option'] {{height: auto !important; min-height: 2.5rem}}
{MENU} [role='option'] > div {{white-space: normal !important; overflow: visible !important; text-overflow: clip}}
"""


def apply_page_style() -> None:
    st.html(f"<style>{APP_CSS}</style>")
