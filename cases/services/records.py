"""Console reads that are themselves on the record (F4): each writes only an
audit event on the case's stream."""

from django.db import transaction

import audit
from audit.context import Actor
from audit.services import case_stream


def case_view_record(*, case_id, user):
    """Records that `user` opened the case page (`case.viewed`). Writes only
    the audit event, on the case's stream; the caller has checked that the
    case exists and that the user may read it."""
    with transaction.atomic():
        audit.record(stream=case_stream(case_id), action="case.viewed", actor=Actor.user(user),
                     target_type="case", target_id=case_id, data={})


def case_access_denied_record(*, case_id, user, path: str) -> None:
    """Records that the console refused `user` a case hidden from them
    (`case.access_denied`, with the path asked for), on the case's stream:
    the case's own record shows who tried to look. Writes only the audit
    event; the caller answers 404 as for a case that does not exist."""
    with transaction.atomic():
        audit.record(stream=case_stream(case_id), action="case.access_denied", actor=Actor.user(user),
                     target_type="case", target_id=case_id, data={"path": str(path)[:500]})


def case_media_reveal_record(*, case_id, user, index, url):
    """Records that `user` revealed one blurred media item of the case
    (`case.media_revealed`, with its position in the case page's media list
    and its URL as reported). Writes only the audit event."""
    with transaction.atomic():
        audit.record(stream=case_stream(case_id), action="case.media_revealed", actor=Actor.user(user),
                     target_type="case", target_id=case_id, data={"index": index, "url": str(url)[:2048]})
