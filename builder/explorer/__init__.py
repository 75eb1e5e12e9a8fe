"""The Backprop explorer's expressions: a safe parser, the arithmetic, the forward and backward trace."""
