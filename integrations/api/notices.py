"""REST API v1: the notices feed (DSA Art. 16(5) and 17) that platforms
poll to tell reporters and affected users what happened (dsa.notices)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from dsa.notices import notices_for_source_since

from . import serializers as s
from .base import ERRORS, ApiView
from .pagination import PAGE_SIZE_SCHEMA, sequence_page
from .representation import notice_out

_CURSOR_PREFIX = "n1:"


class NoticeFeedView(ApiView):
    required_scope = "cases:read"
    page_size = 50

    @extend_schema(
        operation_id="notices_list", summary="Notices to deliver to reporters and affected users",
        description="Every notice about the client's cases in the order it was made: `receipt` to an identified "
                    "reporter when their report arrived, `outcome` to each identified reporter when the case was "
                    "decided (DSA Art. 16(5)), `statement` to the affected user with the statement of reasons and "
                    "the redress available (Art. 17). Texts come from admin-edited templates in the recipient's "
                    "language (English by default). Poll like the decision feed: start without `since`, then pass "
                    "`next_cursor`; none is skipped or repeated.",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.STR,
                             description="opaque cursor from `next_cursor`; omit for the first poll"),
            OpenApiParameter("page_size", PAGE_SIZE_SCHEMA, description="1–200, default 50"),
        ],
        responses={200: s.NoticeFeedSerializer, **ERRORS},
    )
    def get(self, request):
        return sequence_page(request, prefix=_CURSOR_PREFIX, default_size=self.page_size,
                             fetch=notices_for_source_since, render=notice_out)
