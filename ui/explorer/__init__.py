"""The Backprop explorer's parts: the inputs (expression, values, presets), the step buttons and the node table.
The graph's figure is ui/figures/explorer.py; the maths is builder/explorer/expression.py (parsing) and
builder/explorer/expression_trace.py (values, gradients, steps)."""
