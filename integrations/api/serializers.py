"""Shapes of the REST API. Input serializers check shape and limits; the
services check meaning. Limits are documented in the README ("Limits")."""

import hashlib
import json
import re

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models import ReporterKind, SubjectKind
from cases.selectors import active_policies
from cases.services import ReportInput, SubjectInput
from dsa.vocabulary import INTAKE_ACCOUNT_TYPES
from reviews.models import AppealResult, AppealState, AppellantKind, DecisionKind
from signals.identifiers import normalise as identifier_normalise

from ..countries import ISO_3166_ALPHA2

MAX_EXTERNAL_ID = 255
MAX_URL = 2048
MAX_DISPLAY_NAME = 255
MAX_TEXT = 200_000
MAX_DESCRIPTION = 10_000
MAX_LANGUAGE = 35
MAX_MEDIA = 50
MAX_JURISDICTIONS = 60
MAX_METADATA_DEPTH = 8
MAX_METADATA_BYTES = 65_536
MAX_IDEMPOTENCY_KEY = 255
MAX_IDENTIFIER = 512
MAX_SIGNAL_MEDIA = 10

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
IDEMPOTENCY_KEY_PATTERN = _IDEMPOTENCY_KEY.pattern


def _text_problem(value):
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogate characters"
    return None


def check_json_value(value, path="", depth=0):
    """Metadata is free-form JSON, bounded in depth, with storable strings.

    `path` is relative to the metadata object (errors nest under the field's
    own name); `depth` counts containers, the metadata object itself is the
    first level."""
    if isinstance(value, (dict, list)) and depth >= MAX_METADATA_DEPTH:
        raise serializers.ValidationError(
            {path: f"is nested deeper than {MAX_METADATA_DEPTH} levels"} if path
            else f"is nested deeper than {MAX_METADATA_DEPTH} levels"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            item_path = f"{path}.{key}" if path else key
            problem = _text_problem(key)
            if problem:
                raise serializers.ValidationError({item_path: f"key {problem}"})
            check_json_value(item, item_path, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_value(item, f"{path}.{index}" if path else str(index), depth + 1)
    elif isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            raise serializers.ValidationError({path: problem} if path else problem)


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, naming them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"unknown field; expected one of: {', '.join(self.fields)}"] for name in unknown}
                )
        return super().to_internal_value(data)


class StringField(serializers.CharField):
    """A JSON string only: DRF's CharField would take 7 as "7" (the schema
    says string, and a number where text belongs is a client's bug)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"oneOf": [{"type": "string", "maxLength": MAX_EXTERNAL_ID}, {"type": "integer"}],
                      "description": "the platform's id; an integer is taken as its decimal string"})
class ExternalIdField(StringField):
    """Platforms' ids are often numbers: a JSON integer is its decimal
    string (12345 and "12345" are the same subject). Other types are refused."""

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        return super().to_internal_value(data)


def external_id_field(**kwargs):
    return ExternalIdField(max_length=MAX_EXTERNAL_ID, trim_whitespace=False, **kwargs)


def text_field(max_length, **kwargs):
    # trim_whitespace=False: what the platform sent is stored byte-for-byte.
    # DRF's CharField already refuses NUL bytes and lone surrogates.
    return StringField(max_length=max_length, trim_whitespace=False, **kwargs)


def _pattern_schema(regex, **extra):
    """A string schema with the validator's pattern, so that the OpenAPI
    schema says what the serializer checks."""
    return {"type": "string", "pattern": regex.pattern, **extra}


@extend_schema_field({"type": "string", "maxLength": MAX_URL, "pattern": r"^[Hh][Tt][Tt][Pp]([Ss]://\S|://\S\S)\S*$",
                      "description": "an absolute http:// or https:// URL without spaces (at least 9 characters)"})
class HttpUrlField(StringField):
    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_URL, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        lowered = value.lower()
        if not (lowered.startswith("https://") or lowered.startswith("http://")) or len(value) < 9 or any(
            c.isspace() for c in value
        ):
            raise serializers.ValidationError("must be an absolute http:// or https:// URL without spaces")
        return value


@extend_schema_field({"type": "object", "additionalProperties": True,
                      "description": f"Free-form JSON, at most {MAX_METADATA_DEPTH} levels deep and "
                                     f"{MAX_METADATA_BYTES} bytes. `reach`, `followers_count` or `view_count` "
                                     "(a number) feed the case priority."})
class MetadataField(serializers.Field):
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object")
        check_json_value(data)
        if len(json.dumps(data, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
            raise serializers.ValidationError(f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
        return data

    def to_representation(self, value):
        return value


class _PatternField(StringField):
    """Checked as sent: the API never trims (a schema pattern does not either)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


@extend_schema_field(_pattern_schema(_SHA256))
class Sha256Field(_PatternField):
    pass


@extend_schema_field(_pattern_schema(_MIME, maxLength=255))
class MimeTypeField(_PatternField):
    pass


@extend_schema_field(_pattern_schema(_LANGUAGE, maxLength=MAX_LANGUAGE))
class LanguageField(_PatternField):
    pass


@extend_schema_field({"type": "string", "enum": sorted(ISO_3166_ALPHA2)})
class CountryCodeField(_PatternField):
    pass


class MediaSerializer(StrictSerializer):
    url = HttpUrlField()
    sha256 = Sha256Field(max_length=64, required=False)
    mime_type = MimeTypeField(max_length=255, required=False)

    def validate_sha256(self, value):
        if not _SHA256.fullmatch(value):
            raise serializers.ValidationError("must be 64 hexadecimal characters")
        return value.lower()

    def validate_mime_type(self, value):
        if not _MIME.fullmatch(value):
            raise serializers.ValidationError("must be a MIME type like image/png")
        return value


def account_type_field():
    """What the platform knows of the affected account (the DSA statement's account_type)."""
    return serializers.ChoiceField(
        choices=sorted(INTAKE_ACCOUNT_TYPES), required=False,
        help_text="business or private, if the platform knows: the statement of reasons' account_type (DSA)")


def _validate_language(value):
    if not _LANGUAGE.fullmatch(value):
        raise serializers.ValidationError("must be a BCP 47 language tag like en or pt-BR")
    return value


class AuthorSerializer(StrictSerializer):
    external_id = external_id_field()
    display_name = text_field(MAX_DISPLAY_NAME, required=False, allow_blank=True)
    account_type = account_type_field()


class SubjectSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=SubjectKind.choices)
    external_id = external_id_field()
    url = HttpUrlField(required=False)
    display_name = text_field(MAX_DISPLAY_NAME, required=False, allow_blank=True,
                              help_text="for account subjects: the account's display name")
    author = AuthorSerializer(required=False, help_text="for content subjects: the account that posted it")
    text = text_field(MAX_TEXT, required=False, allow_blank=True)
    media = MediaSerializer(many=True, required=False, max_length=MAX_MEDIA)
    language = LanguageField(max_length=MAX_LANGUAGE, required=False)
    metadata = MetadataField(required=False)
    account_type = account_type_field()

    def validate_language(self, value):
        return _validate_language(value)

    def validate(self, attrs):
        if attrs.get("author") is not None and attrs["kind"] != SubjectKind.CONTENT:
            raise serializers.ValidationError({"author": "only content subjects have an author"})
        if "account_type" in attrs and attrs["kind"] != SubjectKind.ACCOUNT:
            raise serializers.ValidationError(
                {"account_type": "describes an account subject; for content give author.account_type"})
        return attrs


class ReporterSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=ReporterKind.choices, default=ReporterKind.USER)
    external_id = external_id_field(required=False, allow_blank=True,
                             help_text="omit for an anonymous reporter")
    language = LanguageField(max_length=MAX_LANGUAGE, required=False,
                             help_text="the reporter's language (BCP 47, e.g. de or pt-BR): the notices to the "
                                       "reporter are written in it where a template exists, else in English")

    def validate_language(self, value):
        return _validate_language(value)


class StrictFloatField(serializers.FloatField):
    """A JSON number only: DRF would take true as 1.0 and "0.5" as 0.5."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class PolicyCodeField(StringField):
    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        if len(code) > 50:
            raise serializers.ValidationError("must be at most 50 characters")
        policies = active_policies()
        if code not in policies:
            raise serializers.ValidationError(
                f"unknown policy {code!r}; valid codes: {', '.join(sorted(policies))}", code="invalid_choice"
            )
        return policies[code]

    def to_representation(self, value):
        return getattr(value, "code", value)


class IdentifierField(StringField):
    """A raw account identifier (or the platform's own hash of it). Quorum
    keeps only its keyed hash; error messages never repeat the value."""

    def __init__(self, kind, **kwargs):
        self.identifier_kind = kind
        super().__init__(max_length=MAX_IDENTIFIER, required=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            identifier_normalise(self.identifier_kind, value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class IdentifiersSerializer(StrictSerializer):
    email = IdentifierField("email")
    phone = IdentifierField("phone")
    device = IdentifierField("device", help_text="a device identifier or fingerprint")
    payment = IdentifierField("payment", help_text="a payment instrument fingerprint")
    ip_prefix = IdentifierField("ip_prefix", help_text="an IP address or prefix; kept as its /24 (IPv4) or /48 (IPv6)")


@extend_schema_field(_pattern_schema(re.compile(r"[0-9a-fA-F]{64}")))
class PdqField(StringField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data).lower()
        if not _SHA256.fullmatch(value):
            raise serializers.ValidationError("must be a PDQ hash: 64 hexadecimal characters")
        return value


class MediaHashSerializer(StrictSerializer):
    sha256 = Sha256Field(max_length=64, required=False)
    pdq = PdqField(max_length=64, required=False, help_text="the PDQ perceptual hash of the image, as 64 hex digits")

    def validate_sha256(self, value):
        if not _SHA256.fullmatch(value):
            raise serializers.ValidationError("must be 64 hexadecimal characters")
        return value.lower()

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("give sha256, pdq or both")
        return attrs


class SignalsSerializer(StrictSerializer):
    subject = IdentifiersSerializer(required=False, help_text="identifiers of the reported account")
    author = IdentifiersSerializer(required=False, help_text="identifiers of the content's author")
    media = MediaHashSerializer(many=True, required=False, max_length=MAX_SIGNAL_MEDIA,
                                help_text="at most 10: each PDQ hash costs 272 index probes at intake")


class ReportInSerializer(StrictSerializer):
    subject = SubjectSerializer()
    policy = PolicyCodeField(help_text="a policy code, e.g. spam")
    reporter = ReporterSerializer(required=False, help_text="omit for an anonymous user report")
    description = text_field(MAX_DESCRIPTION, required=False, allow_blank=True)
    jurisdiction = serializers.ListField(
        child=CountryCodeField(max_length=2, min_length=2), required=False, max_length=MAX_JURISDICTIONS,
        help_text="ISO 3166-1 alpha-2 country codes (and EU)",
    )
    classifier_score = StrictFloatField(min_value=0.0, max_value=1.0, required=False,
                                        help_text="0–1; only for automated reporters")
    signals = SignalsSerializer(required=False, help_text=(
        "optional: account identifiers (stored only as keyed hashes) and media hashes, for linked accounts "
        "and hash lists (docs/integrating.md)"))

    def validate_jurisdiction(self, value):
        bad = [code for code in value if code not in ISO_3166_ALPHA2]
        if bad:
            raise serializers.ValidationError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")
        return list(dict.fromkeys(value))

    def validate(self, attrs):
        reporter = attrs.get("reporter") or {}
        if "classifier_score" in attrs and reporter.get("kind") != ReporterKind.AUTOMATED:
            raise serializers.ValidationError(
                {"classifier_score": "is only accepted from reporters of kind 'automated'"}
            )
        signals = attrs.get("signals") or {}
        subject = attrs.get("subject") or {}
        if signals.get("subject") and subject.get("kind") != SubjectKind.ACCOUNT:
            raise serializers.ValidationError(
                {"signals": {"subject": "identifiers describe accounts; for content use signals.author"}})
        if signals.get("author") and not subject.get("author"):
            raise serializers.ValidationError({"signals": {"author": "needs subject.author"}})
        return attrs


@extend_schema_field(_pattern_schema(_IDEMPOTENCY_KEY))
class IdempotencyKeyField(StringField):
    pass


class BatchItemSerializer(ReportInSerializer):
    idempotency_key = IdempotencyKeyField(max_length=MAX_IDEMPOTENCY_KEY, required=False, trim_whitespace=False)

    def validate_idempotency_key(self, value):
        return validate_idempotency_key(value)


def validate_idempotency_key(value):
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise serializers.ValidationError("must be 1–255 printable ASCII characters without spaces")
    return value


def fingerprint(raw):
    """Hash of a request body's meaning (key order and whitespace ignored)."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_SUBJECT_COLUMNS = {"url": "url", "display_name": "display_name", "text": "latest_text",
                    "media": "latest_media", "language": "language", "metadata": "metadata"}


def to_report_input(validated, *, raw, idempotency_key):
    subject = validated["subject"]
    fields = {column: subject[name] for name, column in _SUBJECT_COLUMNS.items() if name in subject}
    if "latest_media" in fields:
        fields["latest_media"] = [dict(m) for m in fields["latest_media"]]
    author = subject.get("author")
    reporter = validated.get("reporter") or {}
    raw_subject = raw.get("subject") if isinstance(raw, dict) else None
    return ReportInput(
        subject=SubjectInput(
            kind=subject["kind"], external_id=subject["external_id"], fields=fields,
            author_external_id=author["external_id"] if author else None,
            author_display_name=author.get("display_name") if author else None,
            as_received=raw_subject if isinstance(raw_subject, dict) else {},
        ),
        policy=validated["policy"],
        reporter_kind=reporter.get("kind", ReporterKind.USER),
        reporter_external_id=reporter.get("external_id", ""),
        reporter_language=reporter.get("language", ""),
        description=validated.get("description", ""),
        jurisdiction=tuple(validated.get("jurisdiction", ())),
        classifier_score=validated.get("classifier_score"),
        idempotency_key=idempotency_key,
        fingerprint=fingerprint(raw) if idempotency_key is not None else "",
        signals=_plain(validated.get("signals") or {}),
    )


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ---- responses -------------------------------------------------------------

class CaseSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField(help_text="the case's state after this report, including what active rules did "
                                            "in the same request (e.g. decided, on_hold)")
    priority = serializers.IntegerField()
    report_count = serializers.IntegerField()
    decision_id = serializers.UUIDField(required=False, help_text="present when an active rule left the case with "
                                                                  "a decision in the same request (e.g. an "
                                                                  "automated decision): its id")
    url = serializers.URLField()



EFFECT_HELP = ("what the report did: opened_case (a new case), joined_case (an open case), rerouted_case (an open "
               "case moved to the more severe workflow this report's policy routes to), reopened_review (a decided "
               "case re-opened for a new review round by the re-review rules), post_decision (joined a decided case "
               "without re-opening it: counted, no new review), held_reporter_suspended (stored but not filed: the reporter's "
               "notices are suspended under DSA Art. 23(2); no case)")
EFFECTS = ["opened_case", "joined_case", "rerouted_case", "reopened_review", "post_decision", "held_reporter_suspended"]


class ReportOutSerializer(serializers.Serializer):
    report_id = serializers.UUIDField()
    case = CaseSummarySerializer()
    deduplicated = serializers.BooleanField(help_text="true when the report joined an existing (not closed) case")
    effect = serializers.ChoiceField(choices=EFFECTS, required=False, help_text=EFFECT_HELP)


class HeldProcessingSerializer(serializers.Serializer):
    suspended = serializers.BooleanField()
    suspended_until = serializers.DateTimeField()
    reason = serializers.CharField()


class HeldNoticeOutSerializer(serializers.Serializer):
    held_notice_id = serializers.UUIDField()
    case = serializers.JSONField(allow_null=True, help_text="always null: no case was opened or changed")
    deduplicated = serializers.BooleanField()
    effect = serializers.ChoiceField(choices=EFFECTS, help_text=EFFECT_HELP)
    processing = HeldProcessingSerializer()


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="dotted path of the field, e.g. subject.external_id; empty for the body")
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = ErrorItemSerializer(many=True)


class BatchInSerializer(serializers.Serializer):
    reports = serializers.ListField(child=BatchItemSerializer(), min_length=1,
                                    max_length=settings.INTAKE_BATCH_MAX_ITEMS,
                                    help_text="1 to INTAKE_BATCH_MAX_ITEMS (default 500) items")


class BatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="201 opened a case, 200 joined one, 202 held (the reporter's "
                                                "notices are suspended under DSA Art. 23(2)), 4xx rejected")
    report_id = serializers.UUIDField(required=False)
    held_notice_id = serializers.UUIDField(required=False)
    processing = HeldProcessingSerializer(required=False)
    case = CaseSummarySerializer(required=False, allow_null=True)
    deduplicated = serializers.BooleanField(required=False)
    effect = serializers.ChoiceField(choices=EFFECTS, required=False, help_text=EFFECT_HELP)
    errors = ErrorItemSerializer(many=True, required=False)


class BatchOutSerializer(serializers.Serializer):
    results = BatchItemResultSerializer(many=True)
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()


class SubjectRefSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    display_name = serializers.CharField()


class SubjectOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    external_id = serializers.CharField()
    url = serializers.CharField()
    display_name = serializers.CharField()
    author = SubjectRefSerializer(allow_null=True)
    text = serializers.CharField(source="latest_text")
    media = serializers.JSONField(source="latest_media")
    language = serializers.CharField()
    metadata = serializers.JSONField()


class ReporterOutSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="the kind the report was filed as")
    external_id = serializers.CharField(allow_null=True)
    claimed_kind = serializers.CharField(
        allow_null=True, help_text="what the client claimed when it was not confirmed, filed as kind user: a "
                                   "trusted_flagger claim without a registered, active flagger for this policy, or a "
                                   "staff claim from a client without the reports:staff scope")


class CaseReportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    policy = serializers.CharField()
    reporter = ReporterOutSerializer()
    description = serializers.CharField()
    jurisdiction = serializers.ListField(child=serializers.CharField())
    classifier_score = serializers.FloatField(allow_null=True)
    snapshot = serializers.JSONField(help_text="the subject exactly as this report described it")
    received_at = serializers.DateTimeField()


class AppealSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=AppealState.choices)
    result = serializers.ChoiceField(choices=AppealResult.choices, allow_null=True, help_text="null while open")
    opened_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class DsaStatementSerializer(serializers.Serializer):
    puid = serializers.CharField(help_text="the statement's platform unique identifier in the transparency database")
    # A plain string in the schema: an enum named "state" would collide with the case's and the appeal's.
    state = serializers.CharField(help_text="published, or held: it does not validate yet and waits for a lead's "
                                            "correction")
    corrects_puid = serializers.CharField(allow_null=True, help_text="the published statement this one corrects")
    payload = serializers.JSONField(allow_null=True, help_text="the statement in the Commission's schema (version 2) "
                                                               "as submitted to the transparency database; null "
                                                               "while held")


class DecisionOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sequence = serializers.IntegerField(help_text="position in the decision feed (GET /api/v1/decisions)")
    # A plain string in the schema: an enum named "kind" would collide with the subject's kind.
    kind = serializers.CharField(help_text="original; rereview (a later review round decided again); or the result of an "
                                           "appeal against the decision it supersedes: "
                                           + ", ".join(DecisionKind.values))
    outcome = serializers.CharField(help_text="the action, e.g. remove_content, suspend_account, no_violation")
    policy = serializers.CharField(allow_null=True, help_text="code of the policy the decision rests on")
    duration_days = serializers.IntegerField(allow_null=True, help_text="for time-limited outcomes")
    statement_of_reasons = serializers.CharField(
        help_text="facts and reasons for the affected user: the action, the policy, the reason text the admins "
                  "maintain for that policy and outcome, and the deciding reviewers' public explanation. Never the "
                  "reviewers' internal rationales")
    territorial_scope = serializers.ListField(child=serializers.CharField(),
                                              help_text="EEA countries (ISO 3166-1 alpha-2) where the decision "
                                                        "applies, decided by policy (the published DSA statement); "
                                                        "empty while there is none")
    automated_detection = serializers.BooleanField(help_text="an automated reporter flagged the subject")
    automated_decision = serializers.BooleanField(help_text="the decision itself was taken by automation")
    decided_at = serializers.DateTimeField()
    supersedes = serializers.UUIDField(allow_null=True, help_text="the decision this one replaced on appeal")
    appeals_exhausted = serializers.BooleanField(
        help_text="true when the decision came from the final appeal tier: no further appeal is accepted (409 "
                  "appeals_exhausted); the statement of reasons names the out-of-court dispute settlement route "
                  "(DSA Art. 21)")
    appeal = AppealSummarySerializer(
        allow_null=True, help_text="the latest appeal against this decision, or the appeal that produced it")
    statement = DsaStatementSerializer(
        allow_null=True, help_text="the DSA statement of reasons of a decision that restricts something; null "
                                   "for decisions that restrict nothing")


class CaseOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    state = serializers.CharField()
    priority = serializers.IntegerField()
    queue = serializers.CharField()
    report_count = serializers.IntegerField()
    reporter_count = serializers.IntegerField()
    opened_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    previous_case_id = serializers.UUIDField(allow_null=True)
    post_decision_report_count = serializers.IntegerField(
        help_text="reports that joined the case after its current decision without re-opening it")
    reopen_count = serializers.IntegerField(help_text="review rounds the re-review rules opened after a decision")
    subject = SubjectOutSerializer()
    decision = DecisionOutSerializer(allow_null=True, help_text="the current decision, or null before one is made")
    reports = CaseReportSerializer(many=True, required=False,
                                   help_text="the most recent reports (at most 200); see reports_truncated")
    reports_truncated = serializers.BooleanField(required=False)


class CaseListSerializer(serializers.Serializer):
    results = CaseOutSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="URL of the next page, or null")


class DecisionFeedItemSerializer(DecisionOutSerializer):
    case_id = serializers.UUIDField()
    event = serializers.ChoiceField(choices=["decision.made", "decision.reversed"],
                                    help_text="decision.reversed when an appeal reversed the previous decision (a "
                                              "violation found to be none, or \"no action\" found to be a violation)")


class DecisionFeedSerializer(serializers.Serializer):
    results = DecisionFeedItemSerializer(many=True)
    next_cursor = serializers.CharField(
        help_text="pass as `since` in the next poll; always present, unchanged when nothing new was decided")
    has_more = serializers.BooleanField(help_text="true when more decisions are waiting: poll again at once")


class NoticeRedressSerializer(serializers.Serializer):
    internal_appeal_until = serializers.CharField(allow_null=True, help_text="last day to appeal internally "
                                                                             "(YYYY-MM-DD); — when appeals are exhausted")
    out_of_court_dispute_settlement = serializers.CharField(help_text="where to find certified bodies (Art. 21)")
    judicial_redress = serializers.BooleanField(help_text="the right to go to court is not affected")


class NoticeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sequence = serializers.IntegerField()
    case_id = serializers.UUIDField()
    # Plain strings in the schema: enums named "kind" collide with the subject's and the decision's.
    kind = serializers.CharField(help_text="receipt (Art. 16(5): the report arrived), outcome (Art. 16(5): what was "
                                           "decided), statement (Art. 17: the statement of reasons to the affected "
                                           "user), reversal (the affected user's restriction was lifted: a later "
                                           "decision reversed it)")
    recipient = serializers.CharField(help_text="reporter or affected_user")
    recipient_external_id = serializers.CharField(help_text="your id of the person to deliver it to")
    report_id = serializers.UUIDField(allow_null=True)
    decision_id = serializers.UUIDField(allow_null=True)
    statement_puid = serializers.CharField(allow_null=True)
    language = serializers.CharField(help_text="the language the text is in: the affected user's (the subject's "
                                               "language), a reporter's (reporter.language of their reports) where "
                                               "a template exists, else en")
    subject = serializers.CharField()
    body = serializers.CharField(help_text="ready to show; empty when withheld (see `withheld`)")
    withheld = serializers.CharField(allow_null=True, help_text="why the text was withheld, if it was")
    outcome = serializers.CharField(allow_null=True)
    redress = NoticeRedressSerializer(allow_null=True, help_text="for outcome and statement notices")
    created_at = serializers.DateTimeField()


class NoticeFeedSerializer(serializers.Serializer):
    results = NoticeSerializer(many=True)
    next_cursor = serializers.CharField(help_text="pass as `since` in the next poll; always present")
    has_more = serializers.BooleanField(help_text="true when more notices are waiting: poll again at once")


# ---- appeals ---------------------------------------------------------------

MAX_APPEAL_STATEMENT = 10_000


class AppealInSerializer(StrictSerializer):
    appellant = serializers.ChoiceField(choices=AppellantKind.choices, help_text="who appeals")
    appellant_external_id = external_id_field(required=False, allow_blank=True,
                                       help_text="the appellant's account on the platform")
    statement = text_field(MAX_APPEAL_STATEMENT, help_text="the appellant's own words, up to 10 000 characters")

    def validate_statement(self, value):
        if not value.strip():
            raise serializers.ValidationError("must not be blank", code="blank")
        return value


class AppealOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    case_id = serializers.UUIDField()
    decision_id = serializers.UUIDField(help_text="the decision under appeal")
    state = serializers.ChoiceField(choices=AppealState.choices)
    opened_at = serializers.DateTimeField()
