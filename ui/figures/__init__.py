"""Every plotly figure of the app, built from plain numbers; nothing else in ui/ builds one.

style.py: sizes, colours, the shared layout; training.py: the Train page's figures; activations.py: the
inspector's plot of an activation and its derivative; explorer.py: the Backprop explorer's expression graph."""
