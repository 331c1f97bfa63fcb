from django.urls import include, path, re_path

from . import views, views_audit, views_decisions, views_notices

urlpatterns = [
    path("reports", views.ReportCreateView.as_view(), name="api-reports"),
    path("reports/batch", views.ReportBatchView.as_view(), name="api-reports-batch"),
    path("cases", views.CaseListView.as_view(), name="api-cases"),
    path("cases/<str:case_id>", views.CaseDetailView.as_view(), name="api-case-detail"),
    path("cases/<str:case_id>/appeals", views_decisions.AppealCreateView.as_view(), name="api-case-appeals"),
    path("decisions", views_decisions.DecisionFeedView.as_view(), name="api-decisions"),
    path("notices", views_notices.NoticeFeedView.as_view(), name="api-notices"),
    path("audit/head", views_audit.AuditHeadView.as_view(), name="api-audit-head"),
    path("adapters/", include("integrations.adapters.urls")),
    path("", include("integrations.webhooks.urls")),
    # Anything else under /api/v1/ answers in the API's error shape, not Django's HTML page.
    re_path(r"^.*$", views.api_not_found),
]
