"""REST API v1 for what was decided: the decision feed that platforms poll,
and appeals filed on behalf of their users."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from cases.selectors import case_for_source
from reviews.services import appeal_file

from ..selectors import decisions_for_source_since
from . import serializers as s
from .base import ERRORS, ApiView, actor, body_object, parse_uuid
from .pagination import PAGE_SIZE_SCHEMA, decode_sequence_cursor, encode_sequence_cursor, sequence_page
from .representation import decision_event, decision_out

_CURSOR_PREFIX = "d1:"


def encode_decision_cursor(sequence):
    return encode_sequence_cursor(_CURSOR_PREFIX, sequence)


def decode_decision_cursor(value):
    """The sequence a cursor stands for; a 400 naming `since` for anything
    that is not a cursor this API issued."""
    return decode_sequence_cursor(_CURSOR_PREFIX, value)


def _feed_item(decision):
    return {**decision_out(decision), "case_id": str(decision.case_id), "event": decision_event(decision)}


class DecisionFeedView(ApiView):
    required_scope = "cases:read"
    page_size = 50

    @extend_schema(
        operation_id="decisions_list", summary="Decisions since a cursor (for polling)",
        description="Every decision about the client's cases, in the order they were made, including the results "
                    "of appeals (`kind` appeal_upheld / appeal_overturned / appeal_modified; an overturned decision "
                    "is the event `decision.reversed`). Start without `since`, then pass the `next_cursor` of each "
                    "response as `since`: every decision is returned exactly once, none is skipped. `next_cursor` is "
                    "always present, also on an empty page. When `has_more` is true, poll again at once.",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.STR,
                             description="opaque cursor from `next_cursor`; omit for the first poll"),
            OpenApiParameter("page_size", PAGE_SIZE_SCHEMA, description="1–200, default 50"),
        ],
        responses={200: s.DecisionFeedSerializer, **ERRORS},
    )
    def get(self, request):
        return sequence_page(request, prefix=_CURSOR_PREFIX, default_size=self.page_size,
                             fetch=decisions_for_source_since, render=_feed_item)


class AppealCreateView(ApiView):
    required_scope = "appeals:write"
    # a 10 000-character statement is at most 120 000 bytes of JSON, even as \u escapes of astral characters
    max_body_bytes = 256 * 1024

    @extend_schema(
        operation_id="appeals_create", request=s.AppealInSerializer, summary="Appeal the case's current decision",
        description="Opens an appeal against the case's current decision on behalf of the affected user or the "
                    "reporter; people who took no part in the decision review it, and the result arrives as a new "
                    "decision (feed, case detail). At most one appeal of a decision is open at a time, so a retried "
                    "request cannot open a second one: it is answered 409 `appeal_already_open`. Appeals are "
                    "accepted for APPEAL_WINDOW_DAYS (default 183) after the original decision (an appeal decision "
                    "does not restart the window). One appellant (appellant + appellant_external_id) may appeal a "
                    "decision APPEALS_PER_APPELLANT times (default 1). An appeal of an appeal decision goes to the "
                    "final appeal tier; its decision has `appeals_exhausted: true`, names the out-of-court dispute "
                    "settlement route (DSA Art. 21), and further appeals are answered 409 `appeals_exhausted`.",
        responses={
            201: OpenApiResponse(s.AppealOutSerializer, description="the appeal is open"),
            404: OpenApiResponse(s.ErrorSerializer, description="no such case for this client"),
            409: OpenApiResponse(s.ErrorSerializer, description="refused: `appeal_window_closed`, "
                                 "`appeal_already_open` (also the answer to a retry), `appeal_limit_reached` (this "
                                 "appellant already appealed this decision), `appeals_exhausted` (decided in the "
                                 "final appeal tier), `case_closed`, or `appeal_refused` (the case has no decision "
                                 "yet)"),
            **ERRORS,
        },
    )
    def post(self, request, case_id):
        case = case_for_source(source=request.user.source, case_id=parse_uuid(case_id))
        raw = body_object(request)
        serializer = s.AppealInSerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        appeal = appeal_file(case_id=case.pk, appellant_kind=data["appellant"], statement=data["statement"],
                             appellant_external_id=data.get("appellant_external_id", ""),
                             actor=actor(request.user))
        return Response({"id": str(appeal.id), "case_id": str(appeal.case_id), "decision_id": str(appeal.decision_id),
                         "state": appeal.state, "opened_at": appeal.opened_at}, status=201)
