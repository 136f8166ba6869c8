"""VCC's side: the token endpoint's transport (upstream) and the reading of its answer."""
