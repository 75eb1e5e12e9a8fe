"""The editor behind the Build page: edits, undo history, the session, the canvas protocol, layout, gallery pictures."""
