"""The Build page's parts: canvas glue, inspector, panels, toolbar, editor state."""
