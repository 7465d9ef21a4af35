"""Query helpers for the hot paths."""

from django.core.exceptions import EmptyResultSet
from django.db.models import F
from django.db.models.lookups import In


class AnyOf(In):
    """``field IN (…)`` written ``field = ANY(%s)`` on PostgreSQL, with the values as one array parameter.

    psycopg binds parameters on the client and caches the parsed statement
    only up to 50 parameters: an ``IN`` list of a hundred ids is parsed again,
    in Python, every time. Elsewhere this is Django's ``__in``. Used as an
    expression: ``Model.objects.filter(AnyOf(F("pk"), ids))``, or ``any_of("pk", ids)``.
    """

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [value for value in self.rhs if value is not None]
        if not values:
            raise EmptyResultSet
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=True) for value in values]
        # varchar[] rather than varchar(255)[]: a cast must not cut a value that is compared.
        db_type = field.db_type(connection).split("(")[0]
        return f"{lhs} = ANY(%s::{db_type}[])", (*lhs_params, values)


def any_of(name: str, values) -> AnyOf:
    return AnyOf(F(name), list(values))
