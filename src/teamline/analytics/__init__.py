"""Analytics: KPIs, reports, wallboard and staffing (Erlang B/C/A in :mod:`.erlang`)."""
