"""OpenAPI description of the API key authentication (drf-spectacular
extensions register themselves when this module is imported)."""

import logging

from django.db import DatabaseError
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)

log = logging.getLogger(__name__)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <key>`; keys are issued per API client and scoped.",
        }


class PolicyCodeSchema(OpenApiSerializerFieldExtension):
    """Policy codes are admin data: the schema served at /api/schema/ lists
    the codes active when it is generated (without a database: any code)."""

    target_class = "integrations.api.serializers.PolicyCodeField"

    def map_serializer_field(self, auto_schema, direction):
        from cases.selectors import active_policies

        schema = {"type": "string", "maxLength": 50}
        try:
            codes = sorted(active_policies())
        except DatabaseError as exc:
            log.info("policy codes left out of the OpenAPI schema: %s", exc)
            return schema
        if codes:
            schema["enum"] = codes
        return schema


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Request bodies refuse fields they do not know: say so in the schema."""

    target_class = "integrations.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema
