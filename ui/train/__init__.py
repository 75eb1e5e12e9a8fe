"""The Train page's parts: settings, controls, live view, probe panels, runs table, page state."""
