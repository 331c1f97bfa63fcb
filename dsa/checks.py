"""Validation dsa adds to the lower layers' models (cases.extensions)."""

from django.utils.translation import gettext as _

from . import vocabulary as v


def policy_category_problems(policy) -> dict[str, list[str]]:
    """`Policy.dsa_category` must be empty or a STATEMENT_CATEGORY_* of the schema."""
    value = policy.dsa_category or ""
    if value and value not in v.CATEGORY:
        return {"dsa_category": [_("“%(value)s” is not a category of the DSA transparency database schema; use one "
                                   "of STATEMENT_CATEGORY_* (docs/dsa.md) or leave it empty") % {"value": value}]}
    return {}
