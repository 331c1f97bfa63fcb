from django.urls import include, path, re_path

from .api import audit, base, cases, decisions, notices, reports

urlpatterns = [
    path("reports", reports.ReportCreateView.as_view(), name="api-reports"),
    path("reports/batch", reports.ReportBatchView.as_view(), name="api-reports-batch"),
    path("cases", cases.CaseListView.as_view(), name="api-cases"),
    path("cases/<str:case_id>", cases.CaseDetailView.as_view(), name="api-case-detail"),
    path("cases/<str:case_id>/appeals", decisions.AppealCreateView.as_view(), name="api-case-appeals"),
    path("decisions", decisions.DecisionFeedView.as_view(), name="api-decisions"),
    path("notices", notices.NoticeFeedView.as_view(), name="api-notices"),
    path("audit/head", audit.AuditHeadView.as_view(), name="api-audit-head"),
    path("adapters/", include("integrations.adapters.urls")),
    path("", include("integrations.webhooks.urls")),
    # Anything else under /api/v1/ answers in the API's error shape, not Django's HTML page.
    re_path(r"^.*$", base.api_not_found),
]
