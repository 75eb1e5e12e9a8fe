"""GraphSpec and blocks: the contract, problems as data (issues), the caps (limits) and graph sizes."""
