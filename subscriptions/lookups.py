"""`field__any_of=ids`: an integer field among a list of ids, for the fan-out's lists of 1000.

On PostgreSQL the list is bound as one array parameter (`= ANY(%s)`): Django's `__in` renders one
placeholder per id, and building, parsing and binding 1000 of them costs a batch several
milliseconds of worker CPU (more than the statement takes to run), and a statement text that differs
with every list length. Elsewhere (SQLite, `make run`) it is `__in`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models.lookups import In, Lookup


@models.IntegerField.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False  # a list of ids, not one value of the field

    def __init__(self, lhs, rhs: Iterable[int]) -> None:
        super().__init__(lhs, [int(value) for value in rhs])

    def as_sql(self, compiler, connection):
        return In(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, self.rhs]
