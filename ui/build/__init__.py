"""The Build page's parts: canvas adapter, palette, inspector, panels, toolbar, editor state."""
