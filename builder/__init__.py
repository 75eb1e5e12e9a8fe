"""NetCanvas builder: pure Python and networkx (no torch, streamlit or plotly), in six rooms:

    spec/      GraphSpec and blocks: the contract, problems as data (issues), the caps and graph sizes
    ops/       the op catalog: parameters, arity, shape rules, parameter counts
    analysis/  validation and shape inference, reading an upload, Fixes, summary figures
    library/   templates, built-in blocks, datasets, the gallery's tags
    editor/    the Build page's editor: edits, undo history, session, canvas protocol, layout, gallery pictures
    explorer/  the Backprop explorer's expressions (on its own)

Each room imports only the rooms listed above it (tests/test_layering.py checks it).
"""
