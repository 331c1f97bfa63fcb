"""The console's words for one case's verification (audit.evidence): a
summary, what was checked, what was not, and the problems found."""

from dataclasses import dataclass, field

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.evidence import StreamEvidence


@dataclass
class VerifyReport:
    ok: bool
    summary: str
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    event_id: int | None = None


def _when(moment) -> str:
    return date_format(moment, "DATETIME_FORMAT")


def verify_report(evidence: StreamEvidence) -> VerifyReport:
    chain = evidence.chain
    report = VerifyReport(ok=evidence.ok, summary="")
    if chain.ok:
        report.checked.append(_("Chain intact: %(events)s events, gapless from seq 1, each linked to the one before "
                                "it, ending at the stream head (seq %(seq)s).") % {"events": chain.events,
                                                                                  "seq": chain.head_seq})
        keyed = chain.events - evidence.legacy_events
        if keyed:
            report.checked.append(_("The keyed hash (HMAC-SHA256) of each of the %(n)s keyed events verifies under "
                                    "its audit key (%(keys)s).") % {"n": keyed, "keys": ", ".join(evidence.key_ids)})
        if evidence.legacy_events:
            report.not_checked.append(ngettext(
                "%(n)s event is from before audit keys (plain SHA-256). Whether the first keyed checkpoint sealed it "
                "is checked by verify_audit, not here.",
                "%(n)s events are from before audit keys (plain SHA-256). Whether the first keyed checkpoint sealed "
                "them is checked by verify_audit, not here.", evidence.legacy_events) % {"n": evidence.legacy_events})
    elif chain.problem.seq is not None:
        report.problems.append(_("Chain broken at seq %(seq)s: %(why)s") % {"seq": chain.problem.seq,
                                                                           "why": chain.problem.message})
        report.event_id = chain.problem.event_id
    else:
        report.problems.append(_("Chain could not be verified: %(why)s") % {"why": chain.problem.message})
    _seals(evidence, report)
    _anchors(evidence, report)
    if evidence.unsealed_events and chain.ok:
        report.not_checked.append(ngettext(
            "%(n)s event after seq %(seq)s is not yet recorded by any checkpoint: only the audit key protects it.",
            "%(n)s events after seq %(seq)s are not yet recorded by any checkpoint: only the audit key protects them.",
            evidence.unsealed_events) % {"n": evidence.unsealed_events, "seq": evidence.sealed_seq})
    report.not_checked.append(_("The rest of the trail (other streams, the whole checkpoint chain, completeness) "
                                "is checked by verify_audit."))
    report.problems.extend(_("Problem: %(what)s") % {"what": p} for p in evidence.problems)
    if report.ok:
        report.summary = _("Verified: nothing wrong found in what was checked.")
    else:
        report.summary = _("Verification failed.")
    return report


def _seals(evidence: StreamEvidence, report: VerifyReport) -> None:
    if not evidence.seals:
        report.not_checked.append(_("No checkpoint has recorded this case yet, so nothing seals it."))
        return
    last = evidence.seals[-1]
    report.checked.append(ngettext(
        "%(n)s checkpoint recorded this case, the last (number %(number)s, %(when)s) up to seq %(seq)s; its own "
        "HMAC and its link to the checkpoint before it were checked.",
        "%(n)s checkpoints recorded this case, the last (number %(number)s, %(when)s) up to seq %(seq)s; the HMAC "
        "of each and its link to the checkpoint before it were checked.", len(evidence.seals))
        % {"n": len(evidence.seals), "number": last.number, "when": _when(last.created_at), "seq": last.seq})


def _anchors(evidence: StreamEvidence, report: VerifyReport) -> None:
    if not evidence.anchor_file:
        report.not_checked.append(_("No anchor file is configured (AUDIT_ANCHOR_FILE): the checkpoints were not "
                                    "compared with a local anchor."))
    elif not evidence.anchor_file_error and evidence.seals:
        last = evidence.last_in_anchor_file
        if last is None:
            report.not_checked.append(_("The anchor file holds none of these checkpoints yet."))
        else:
            report.checked.append(_("The anchor file holds these checkpoints up to number %(number)s, with the same "
                                    "hashes.") % {"number": last})
    if "witness" not in evidence.external_anchors:
        report.not_checked.append(_("No external witness is configured (AUDIT_WITNESS_URL): nothing outside this "
                                    "server has acknowledged these checkpoints."))
        return
    if evidence.seals:
        acknowledged = evidence.last_acknowledged("witness")
        if acknowledged is None:
            report.not_checked.append(_("The witness has not acknowledged any of these checkpoints yet."))
        else:
            report.checked.append(_("The witness acknowledged checkpoint %(number)s on %(when)s.") % {
                "number": acknowledged.number, "when": _when(acknowledged.acknowledged["witness"])})
    report.not_checked.append(_("What the witness kept is not compared here: only its own copy can show a rewrite by "
                                "someone holding the audit key (verify_audit --anchors with its file)."))
