"""Compiling a GraphSpec into a torch.fx module: the engine's op records and layers."""
