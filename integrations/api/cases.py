"""GET /api/v1/cases and /api/v1/cases/<id>: the client's cases."""

from django.db.models import Exists, OuterRef, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from cases.models import CaseState, Report
from cases.selectors import case_for_source, cases_for_source

from ..selectors import current_decisions_by_case
from . import serializers as s
from .base import ERRORS, ApiView, parse_uuid, query_param
from .pagination import PAGE_SIZE_SCHEMA, decode_time_id_cursor, encode_time_id_cursor, next_page_url, page_size_param
from .representation import case_out

MAX_CASE_REPORTS = 200


class CaseDetailView(ApiView):
    required_scope = "cases:read"

    @extend_schema(operation_id="cases_retrieve", responses={200: s.CaseOutSerializer, 404: s.ErrorSerializer,
                                                               **ERRORS}, summary="A case with its reports and current decision")
    def get(self, request, case_id):
        case = case_for_source(source=request.user.source, case_id=parse_uuid(case_id))
        reports = list(
            Report.objects.filter(case=case).select_related("policy").order_by("-received_at", "-id")[
                : MAX_CASE_REPORTS + 1]
        )
        truncated = len(reports) > MAX_CASE_REPORTS
        reports = list(reversed(reports[:MAX_CASE_REPORTS]))
        decision = current_decisions_by_case(case_ids=[case.pk]).get(case.pk)
        return Response(case_out(request, case, reports, truncated, decision))


class CaseListView(ApiView):
    required_scope = "cases:read"
    page_size = 50

    @extend_schema(
        operation_id="cases_list", summary="The client's cases, newest first",
        parameters=[
            OpenApiParameter("subject_external_id", OpenApiTypes.STR, description="cases about this subject"),
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(CaseState.values)),
            OpenApiParameter("policy", OpenApiTypes.STR, description="cases with at least one report citing it"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="from the `next` URL of the previous page"),
            OpenApiParameter("page_size", PAGE_SIZE_SCHEMA, description="1–200, default 50"),
        ],
        responses={200: s.CaseListSerializer, **ERRORS},
    )
    def get(self, request):
        params = request.query_params
        cases = cases_for_source(source=request.user.source).select_related("subject__author")
        subject_external_id = query_param(params, "subject_external_id")
        if subject_external_id is not None:
            cases = cases.filter(subject__external_id=subject_external_id)
        state = query_param(params, "state")
        if state is not None:
            if state not in CaseState.values:
                raise serializers.ValidationError(
                    {"state": [f"unknown state; valid: {', '.join(CaseState.values)}"]})
            cases = cases.filter(state=state)
        policy = query_param(params, "policy")
        if policy is not None:
            cases = cases.filter(Exists(Report.objects.filter(case=OuterRef("pk"), policy__code=policy)))
        page_size = page_size_param(params, self.page_size)
        cursor = query_param(params, "cursor")
        if cursor:
            opened_at, case_id = decode_time_id_cursor(cursor)
            cases = cases.filter(Q(opened_at__lt=opened_at) | Q(opened_at=opened_at, id__lt=case_id))
        page = list(cases.order_by("-opened_at", "-id")[: page_size + 1])
        next_url = None
        if len(page) > page_size:
            page = page[:page_size]
            next_url = next_page_url(request, encode_time_id_cursor(page[-1].opened_at, page[-1].id))
        decisions = current_decisions_by_case(case_ids=[c.pk for c in page])
        return Response({"results": [case_out(request, c, decision=decisions.get(c.pk)) for c in page],
                         "next": next_url})
