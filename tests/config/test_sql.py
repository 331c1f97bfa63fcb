"""config/sql.py's statement builder: columns come from concrete fields only."""

import pytest
from django.contrib.auth.models import Group, User

from config.sql import update_from_values_sql


def test_update_from_values_sql_uses_the_fields_columns():
    sql, params = update_from_values_sql(model=User, key=("id", "integer"), columns=[("is_active", "boolean")],
                                         rows=[(1, True), (2, False)])
    assert sql == ("UPDATE auth_user AS t SET is_active = v.is_active FROM (VALUES (%s::integer, %s::boolean), "
                   "(%s::integer, %s::boolean)) AS v(id, is_active) WHERE t.id = v.id")
    assert params == [1, True, 2, False]


@pytest.mark.parametrize(("model", "name"), [(User, "groups"), (Group, "user")], ids=["many-to-many", "reverse"])
def test_update_from_values_sql_refuses_a_relation_without_a_column(model, name):
    # mypy pointed at the reverse relation (AttributeError on .column); a many-to-many name built
    # "SET groups = …", a column that does not exist. Both now name the field.
    with pytest.raises(ValueError, match=rf"{model.__name__}\.{name} is not a column of {model._meta.db_table}"):
        update_from_values_sql(model=model, key=("id", "integer"), columns=[(name, "integer")], rows=[(1, 2)])
