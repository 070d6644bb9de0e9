"""Analytics models. None yet: the staffing formulas in :mod:`.erlang` are pure functions."""
