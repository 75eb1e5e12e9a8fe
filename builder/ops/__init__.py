"""The op catalog: every op's parameters, arity, shape rule and parameter count."""
