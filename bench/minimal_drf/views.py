from django.conf import settings
from django.http import JsonResponse
from rest_framework.decorators import api_view
from rest_framework.response import Response

from .serializers import ReportSerializer


def healthz(request):
    return JsonResponse({"status": "ok"})


@api_view(["POST"])
def report_create(request):
    if request.headers.get("Authorization") != f"Bearer {settings.BENCH_KEY}":
        return Response({"detail": "invalid key"}, status=401)
    serializer = ReportSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    serializer.save()
    return Response(serializer.data, status=201)
