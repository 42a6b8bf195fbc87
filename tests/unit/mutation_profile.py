"""A pytest plugin for mutation runs: ``-p tests.unit.mutation_profile`` (set in
``[tool.mutmut] pytest_add_cli_args``; the normal suite never loads it).

Hypothesis draws the same examples every run and keeps no example database, so a mutant's
verdict depends only on the mutant: not on the order mutmut runs them in, nor on failures
an earlier mutant left in ``.hypothesis/``.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("mutation", derandomize=True, database=None, deadline=None)
settings.load_profile("mutation")
