"""The scenarios, in the order they run.

A scenario is a module with ID, TITLE and run(ctx) -> dict of figures, using
the helpers of runner.Context (http for one measured wrk run, ab for two
servers compared in alternating slices, measure/summarize for anything
else). It may define targets(results) -> list of target dicts, and LOAD =
False when it should not be bracketed by raw-SQL baseline slices. To add a
scenario, write the module and list it here."""

from . import audit_off, batch_new, big_db, minimal_drf, signals_cost, single_hot, single_new, statements, worker_alt

SCENARIOS = [single_new, minimal_drf, audit_off, single_hot, batch_new, worker_alt, statements, signals_cost, big_db]
