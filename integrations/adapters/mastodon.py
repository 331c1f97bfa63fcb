"""Mastodon admin webhooks (`report.created`, `report.updated`).

Sources (see docs/mastodon.md): Mastodon signs each delivery with the header
`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with the
webhook's secret (app/workers/webhooks/delivery_worker.rb); the body is
`{"event", "created_at", "object"}` (REST::Admin::WebhookEventSerializer) and
for report events `object` is an Admin::Report (REST::Admin::ReportSerializer:
id, category, comment, forwarded, account, target_account, statuses, rules ...).

Mapping:
- a report with statuses files one content report per status (the status
  HTML exactly as given, its media; author: the reported account);
- a report without statuses files one account report about target_account;
- category and cited rules → a policy through the configuration's mapping;
- reporter: the reporting account's id, or for a report that arrived from
  another server (the reporting account has a domain; that server anonymises
  its users) the domain of that server.
Idempotency keys are derived from the report id and the status (or account)
id, so redeliveries and report.updated file nothing new unless the report
gained a status.
"""

import hashlib
import hmac
import mimetypes
import re
from urllib.parse import urlsplit

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from cases.errors import DomainError
from integrations.api.serializers import MAX_DESCRIPTION, MAX_DISPLAY_NAME, MAX_MEDIA, StringField

from .base import Adapter, Filing, Parsed
from .registry import register

REPORT_EVENTS = ("report.created", "report.updated")
CATEGORIES = ("spam", "legal", "violation", "other")
MAX_STATUSES = 500
MAX_ID = 100

_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_ID = re.compile(r"^[\x21-\x7e]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


# ---- the payload -----------------------------------------------------------
# Only what the mapping reads is declared; Mastodon sends much more, and
# whatever is not declared here is ignored (new Mastodon versions add fields).

@extend_schema_field({"type": "string", "pattern": _ID.pattern, "maxLength": MAX_ID})
class MastodonIdField(serializers.CharField):
    """Mastodon ids are strings ("cast from an integer, but not guaranteed to
    be a number"); integers are accepted too."""

    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_ID, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not _ID.fullmatch(value):
            raise serializers.ValidationError("must be printable ASCII without spaces")
        return value


def _text(**kwargs):
    kwargs.setdefault("trim_whitespace", False)
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_null", True)
    kwargs.setdefault("allow_blank", True)
    return StringField(**kwargs)


def _list(child, **kwargs):
    """An optional list (null allowed) of non-null items. (A serializer with
    many=True, allow_null=True would let null items through too.)"""
    return serializers.ListField(child=child, required=False, allow_null=True, **kwargs)


def _flag():
    return serializers.BooleanField(required=False, allow_null=True)


class MastodonAccountSerializer(serializers.Serializer):
    """REST Account (inside Admin::Account as `account`, and on statuses)."""

    id = MastodonIdField(required=False)
    username = _text()
    acct = _text()
    display_name = _text()
    url = _text()
    uri = _text()
    note = _text(help_text="the profile's bio (HTML)")
    bot = _flag()
    created_at = _text()
    followers_count = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**53)


class MastodonAdminAccountSerializer(serializers.Serializer):
    """Admin::Account."""

    id = MastodonIdField()
    username = _text()
    domain = _text(help_text="null for local accounts; the account's server otherwise")
    account = MastodonAccountSerializer(required=False, allow_null=True)


class MastodonMediaSerializer(serializers.Serializer):
    """MediaAttachment."""

    id = MastodonIdField(required=False)
    type = _text(help_text="image, gifv, video, audio or unknown")
    url = _text()
    remote_url = _text()
    preview_url = _text()
    description = _text(help_text="alt text")


class MastodonStatusSerializer(serializers.Serializer):
    """Status."""

    id = MastodonIdField()
    uri = _text()
    url = _text()
    content = _text(help_text="HTML, stored exactly as given")
    spoiler_text = _text()
    language = _text()
    sensitive = _flag()
    visibility = _text()
    created_at = _text()
    edited_at = _text()
    in_reply_to_id = _text()
    media_attachments = _list(MastodonMediaSerializer())


class MastodonRuleSerializer(serializers.Serializer):
    id = MastodonIdField()
    text = _text()


class MastodonReportSerializer(serializers.Serializer):
    """Admin::Report."""

    id = MastodonIdField()
    category = StringField(max_length=50, required=False, allow_null=True, trim_whitespace=False,
                                     help_text="spam, legal, violation or other")
    comment = _text()
    forwarded = _flag()
    action_taken = _flag()
    created_at = _text()
    updated_at = _text()
    account = MastodonAdminAccountSerializer(allow_null=True, required=False, help_text="who reported")
    target_account = MastodonAdminAccountSerializer(help_text="the reported account")
    statuses = _list(MastodonStatusSerializer(), max_length=MAX_STATUSES)
    rules = _list(MastodonRuleSerializer(), max_length=MAX_STATUSES)
    rule_ids = serializers.ListField(child=MastodonIdField(), required=False, allow_null=True, max_length=100,
                                     help_text="not part of Admin::Report; accepted from custom payloads")


@extend_schema_serializer(component_name="MastodonWebhookEvent")
class MastodonEventSerializer(serializers.Serializer):
    event = StringField(max_length=100, trim_whitespace=False, help_text="report.created and report.updated are filed; "
                                                            "other events are acknowledged (202) and ignored")
    created_at = _text()
    object = MastodonReportSerializer(help_text="an Admin::Report for report events")


class _EventNameSerializer(serializers.Serializer):
    event = StringField(max_length=100, trim_whitespace=False)


# ---- mapping ---------------------------------------------------------------

def _http_url(value):
    """An absolute http(s) URL that the REST API accepts, or None. Optional
    links are dropped rather than refused: a 4xx would make Mastodon give the
    report up."""
    if not value or len(value) > 2048 or any(c.isspace() for c in value):
        return None
    lowered = value.lower()
    if not (lowered.startswith("https://") or lowered.startswith("http://")) or len(value) < 9:
        return None
    return value


def _language(value):
    return value if value and len(value) <= 35 and _LANGUAGE.fullmatch(value) else None


def _mime_type(url, kind):
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    if guessed and _MIME.fullmatch(guessed):
        return guessed
    return {"gifv": "video/mp4"}.get(kind)


def _display_name(account):
    nested = account.get("account") or {}
    name = nested.get("display_name") or nested.get("username") or account.get("username") or ""
    return name[:MAX_DISPLAY_NAME]


def _followers(account):
    return (account.get("account") or {}).get("followers_count")


def _account_metadata(account):
    nested = account.get("account") or {}
    metadata = {"mastodon": {
        "username": account.get("username") or nested.get("username"),
        "acct": nested.get("acct"),
        "domain": account.get("domain"),
        "uri": nested.get("uri"),
        "bot": nested.get("bot"),
        "created_at": nested.get("created_at"),
    }}
    if _followers(account) is not None:
        metadata["followers_count"] = _followers(account)
    return metadata


def _reporter(report):
    account = report.get("account")
    if not account:
        return None
    if account.get("domain"):
        # A report from another server: its author is that server's
        # (anonymised) instance actor, so the reporter is the server.
        return {"kind": "user", "external_id": account["domain"]}
    return {"kind": "user", "external_id": account["id"]}


def _rule_ids(report):
    ids = [rule["id"] for rule in report.get("rules") or []]
    ids += list(report.get("rule_ids") or [])
    return list(dict.fromkeys(ids))


def _policy(report, policies):
    """The most severe policy a cited rule maps to; else the category's; else
    the fallback (`other`)."""
    cited = [p for p in (policies.get("rule", rule_id) for rule_id in _rule_ids(report)) if p is not None]
    if cited:
        return max(cited, key=lambda p: p.severity)  # max keeps the first of equals: the first rule cited
    category = report.get("category") or "other"
    policy = policies.get("category", category)
    if policy is None and category not in CATEGORIES:
        policy = policies.get("category", "other")
    policy = policy or policies.fallback
    if policy is None:
        raise DomainError(f"no active policy for Mastodon category {category!r}: map it in the admin "
                          "(Platform adapters) or activate the policy 'other'", code="policy_unmapped")
    return policy


def _description(report, rule_ids):
    rules = {rule["id"]: rule.get("text") or "" for rule in report.get("rules") or []}
    context = f"Mastodon report {report['id']}, category {report.get('category') or 'other'}"
    if rule_ids:
        cited = "; ".join(f"#{rid} {rules[rid]}".rstrip() if rules.get(rid) else f"#{rid}" for rid in rule_ids)
        context += f", rules: {cited}"
    account = report.get("account") or {}
    if account.get("domain"):
        context += f"; received from {account['domain']}"
    if report.get("forwarded"):
        context += "; forwarded to the reported account's server"
    context += "."
    comment = report.get("comment") or ""
    if not comment:
        return context[:MAX_DESCRIPTION]
    room = MAX_DESCRIPTION - len(context) - 2
    return f"{comment[:max(room, 0)]}\n\n{context}"[:MAX_DESCRIPTION]


def _content_filing(report, index, status, base):
    target = report["target_account"]
    origin = f"object.statuses.{index}"
    media, media_meta, paths = [], [], {}
    for position, attachment in enumerate(status.get("media_attachments") or []):
        url = _http_url(attachment.get("url")) or _http_url(attachment.get("remote_url"))
        media_meta.append({"id": attachment.get("id"), "type": attachment.get("type"),
                           "description": attachment.get("description")})
        if url is None or len(media) >= MAX_MEDIA:
            continue
        item = {"url": url}
        mime_type = _mime_type(url, attachment.get("type"))
        if mime_type:
            item["mime_type"] = mime_type
        paths[f"subject.media.{len(media)}"] = f"{origin}.media_attachments.{position}"
        media.append(item)
    subject = {
        "kind": "content", "external_id": status["id"],
        "author": {"external_id": target["id"], "display_name": _display_name(target)},
        "text": status.get("content") or "",
        "metadata": {"mastodon": {
            "uri": status.get("uri"), "visibility": status.get("visibility"), "sensitive": status.get("sensitive"),
            "spoiler_text": status.get("spoiler_text"), "created_at": status.get("created_at"),
            "edited_at": status.get("edited_at"), "in_reply_to_id": status.get("in_reply_to_id"),
            "media": media_meta,
        }},
    }
    if _followers(target) is not None:
        subject["metadata"]["followers_count"] = _followers(target)  # the author's reach
    url = _http_url(status.get("url")) or _http_url(status.get("uri"))
    if url:
        subject["url"] = url
    if media:
        subject["media"] = media
    language = _language(status.get("language"))
    if language:
        subject["language"] = language
    paths.update({
        "subject": origin, "subject.external_id": f"{origin}.id", "subject.text": f"{origin}.content",
        "subject.url": f"{origin}.url", "subject.language": f"{origin}.language", "subject.metadata": origin,
        "subject.author": "object.target_account", "subject.author.external_id": "object.target_account.id",
        "subject.author.display_name": "object.target_account.account.display_name",
    })
    return Filing(body={**base, "subject": subject},
                  idempotency_key=f"mastodon:report:{report['id']}:status:{status['id']}",
                  paths={**base_paths(), **paths})


def _account_filing(report, base):
    target = report["target_account"]
    nested = target.get("account") or {}
    subject = {"kind": "account", "external_id": target["id"], "display_name": _display_name(target),
               "metadata": _account_metadata(target)}
    url = _http_url(nested.get("url")) or _http_url(nested.get("uri"))
    if url:
        subject["url"] = url
    if nested.get("note"):
        subject["text"] = nested["note"]
    origin = "object.target_account"
    paths = {"subject": origin, "subject.external_id": f"{origin}.id",
             "subject.display_name": f"{origin}.account.display_name", "subject.url": f"{origin}.account.url",
             "subject.text": f"{origin}.account.note", "subject.metadata": origin}
    return Filing(body={**base, "subject": subject},
                  idempotency_key=f"mastodon:report:{report['id']}:account:{target['id']}",
                  paths={**base_paths(), **paths})


def base_paths():
    return {"reporter": "object.account", "reporter.external_id": "object.account.id",
            "description": "object.comment", "policy": "object.category"}


@register
class MastodonAdapter(Adapter):
    platform = "mastodon"
    title = "Mastodon"
    signature_header = "X-Hub-Signature"
    signature_description = ("`sha256=` and the hex HMAC-SHA256 of the raw request body, keyed with the webhook's "
                             "secret (as Mastodon sends it)")
    payload_serializer = MastodonEventSerializer
    description = (
        "Receives a Mastodon server's admin webhooks (Administration → Webhooks, events report.created and "
        "report.updated; the webhook's secret is configured in Quorum's admin under Platform adapters). A report "
        "with statuses files one content report per status; a report without statuses files the reported account. "
        "Category and cited rules map to policies. Redelivered events file nothing new (idempotency keys derive "
        "from the Mastodon report and status ids). Other events are acknowledged with 202 and ignored."
    )
    mapping_kinds = {"category": "Mastodon report category: spam, legal, violation, other",
                     "rule": "id of one of the server's rules (Administration → Server rules)"}
    default_mappings = {
        ("category", "spam"): "spam",
        # Mastodon's "legal" means "illegal in my (or the server's) country"; the
        # default policy book has no generic illegal-content policy and
        # illegal_goods would misfile defamation or hate speech, so it lands in
        # `other` until an admin maps it (the description names the category).
        ("category", "legal"): "other",
        ("category", "violation"): "other",
        ("category", "other"): "other",
    }

    def verify(self, *, secret, headers, body):
        match = _SIGNATURE.fullmatch(headers.get(self.signature_header) or "")
        if not match or not secret:
            return False
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, match.group(1).lower())

    def parse(self, *, payload, policies):
        if not isinstance(payload, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        name = _EventNameSerializer(data=payload)
        name.is_valid(raise_exception=True)
        event = name.validated_data["event"]
        if event not in REPORT_EVENTS:
            return Parsed(event=event, ignored=True)
        serializer = MastodonEventSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        report = serializer.validated_data["object"]

        rule_ids = _rule_ids(report)
        base = {"policy": _policy(report, policies).code,
                "description": _description(report, rule_ids)}
        reporter = _reporter(report)
        if reporter is not None:
            base["reporter"] = reporter
        seen, filings = set(), []
        for index, status in enumerate(report.get("statuses") or []):
            if status["id"] not in seen:  # a status listed twice is one subject
                seen.add(status["id"])
                filings.append(_content_filing(report, index, status, base))
        if not filings:
            filings = [_account_filing(report, base)]
        return Parsed(event=event, reference=report["id"], filings=tuple(filings))
