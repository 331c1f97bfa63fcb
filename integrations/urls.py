from django.urls import path, re_path

from . import views

urlpatterns = [
    path("reports", views.ReportCreateView.as_view(), name="api-reports"),
    path("reports/batch", views.ReportBatchView.as_view(), name="api-reports-batch"),
    path("cases", views.CaseListView.as_view(), name="api-cases"),
    path("cases/<str:case_id>", views.CaseDetailView.as_view(), name="api-case-detail"),
    # Anything else under /api/v1/ answers in the API's error shape, not Django's HTML page.
    re_path(r"^.*$", views.api_not_found),
]
