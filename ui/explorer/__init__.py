"""The Backprop explorer's parts: the inputs (expression, values, presets), the step buttons and the node table.
The graph's figure is ui/figures/explorer.py; the maths is builder/expression.py (parsing) and
builder/expression_trace.py (values, gradients, steps)."""
