"""NetCanvas builder: GraphSpec, op catalog, validation, shape inference, templates. Pure Python + networkx."""
