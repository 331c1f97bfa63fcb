from django.urls import path

from . import views

urlpatterns = [
    path("reports", views.ReportCreateView.as_view(), name="api-reports"),
    path("reports/batch", views.ReportBatchView.as_view(), name="api-reports-batch"),
    path("cases", views.CaseListView.as_view(), name="api-cases"),
    path("cases/<str:case_id>", views.CaseDetailView.as_view(), name="api-case-detail"),
]
