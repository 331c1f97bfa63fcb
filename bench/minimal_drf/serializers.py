from rest_framework import serializers

from .models import Report

KINDS = ["account", "content"]
REPORTER_KINDS = ["user", "trusted_flagger", "classifier", "staff"]


class SubjectSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    external_id = serializers.CharField(max_length=200)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)


class ReporterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=REPORTER_KINDS)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ReportSerializer(serializers.ModelSerializer):
    """The request body Quorum's POST /api/v1/reports takes (the fields the bench sends)."""

    subject = SubjectSerializer()
    reporter = ReporterSerializer()

    class Meta:
        model = Report
        fields = ["id", "subject", "policy", "reporter", "description", "received_at"]
        read_only_fields = ["id", "received_at"]

    def create(self, validated):
        subject, reporter = validated.pop("subject"), validated.pop("reporter")
        return Report.objects.create(
            subject_kind=subject["kind"], subject_external_id=subject["external_id"],
            subject_display_name=subject["display_name"], subject_url=subject["url"],
            subject_metadata=subject["metadata"], reporter_kind=reporter["kind"],
            reporter_external_id=reporter["external_id"], **validated)

    def to_representation(self, instance):
        return {"id": instance.pk, "received_at": instance.received_at.isoformat()}
