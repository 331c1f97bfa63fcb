"""Default DSA mappings and public reasons for the default outcomes
(reviews.workflows.DEFAULT_OUTCOMES) and policy book (cases.policybook).
Installed by `manage.py install_dsa_defaults` (make run, demo data, tests);
admins change them in the Django admin."""

from audit.context import Actor
from cases.models import Policy
from reviews.models import Outcome

from . import vocabulary as v
from .models import NoticeKind, NoticeTemplate, OutcomeMapping, PolicyMapping, PublicReason
from .notices import FALLBACK
from .services import dsa_config_save

OUTCOME_MAPPINGS: dict[str, dict] = {
    "label": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_LABELLED"]},
    "restrict_visibility": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_DEMOTED"]},
    "remove_content": {"decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"]},
    "suspend_account": {"decision_account": "DECISION_ACCOUNT_SUSPENDED"},
    "ban_account": {"decision_account": "DECISION_ACCOUNT_TERMINATED"},
    "refer_to_law_enforcement": {"no_restriction": True},
}

POLICY_SPECIFICATIONS: dict[str, list[str]] = {
    "spam": ["KEYWORD_OTHER"],
    "harassment": ["KEYWORD_CYBER_HARASSMENT"],
    "hate": ["KEYWORD_HATE_SPEECH"],
    "violence": ["KEYWORD_INCITEMENT_VIOLENCE_HATRED"],
    "child_safety": ["KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"],
    "self_harm": ["KEYWORD_SELF_MUTILATION"],
    "illegal_goods": ["KEYWORD_PROHIBITED_PRODUCTS"],
    "ip_infringement": ["KEYWORD_COPYRIGHT_INFRINGEMENT"],
    "privacy": ["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"],
    "impersonation": ["KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING"],
    "misinformation": ["KEYWORD_MISINFORMATION_DISINFORMATION"],
}

# Illegal everywhere in the EEA under EU law; the other policies rest on the terms of service.
ILLEGAL_POLICIES: dict[str, str] = {
    "child_safety": "Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children and "
                    "child pornography, Art. 5",
}

PUBLIC_REASONS: dict[str, tuple[str, str]] = {
    "label": ("We added a label to your content because it breaks the rule named above.",
              "Wir haben Ihren Inhalt gekennzeichnet, weil er gegen die oben genannte Regel verstößt."),
    "restrict_visibility": ("We limited who sees your content because it breaks the rule named above.",
                            "Wir haben die Sichtbarkeit Ihres Inhalts eingeschränkt, weil er gegen die oben genannte "
                            "Regel verstößt."),
    "remove_content": ("We removed your content because it breaks the rule named above.",
                       "Wir haben Ihren Inhalt entfernt, weil er gegen die oben genannte Regel verstößt."),
    "suspend_account": ("We suspended your account for the time named above because of a breach of the rule named "
                        "above.",
                        "Wir haben Ihr Konto für den oben genannten Zeitraum gesperrt, weil gegen die oben genannte "
                        "Regel verstoßen wurde."),
    "ban_account": ("We closed your account because of a serious breach of the rule named above.",
                    "Wir haben Ihr Konto wegen eines schweren Verstoßes gegen die oben genannte Regel geschlossen."),
}


NOTICE_TEMPLATES_DE: dict[str, tuple[str, str]] = {
    NoticeKind.RECEIPT: ("Wir haben Ihre Meldung erhalten ({reference})",
                         "Wir haben Ihre Meldung zu {subject} nach unserer Regel „{policy}“ am {received_at} erhalten. "
                         "Wir teilen Ihnen mit, wie wir entscheiden."),
    NoticeKind.OUTCOME: ("Ergebnis Ihrer Meldung ({reference})",
                         "Wir haben den gemeldeten Inhalt ({subject}) geprüft. Unsere Entscheidung: {outcome}{duration}. "
                         "Gründe: {reason} {explanation}\nSie können bis {appeal_deadline} eine Überprüfung verlangen; "
                         "außergerichtliche Streitbeilegung: {dispute_settlement}."),
    NoticeKind.STATEMENT: ("Begründung unserer Entscheidung ({reference})",
                           "Entscheidung: {outcome}{duration} nach unserer Regel „{policy}“.\n{reason} {explanation}\n"
                           "Grundlage: {ground}\nGeltungsbereich: {territorial_scope}. Bis: {end_date}. "
                           "Automatisierte Mittel: {automated}.\nIhre Möglichkeiten: eine interne Beschwerde bis "
                           "{appeal_deadline}; eine zertifizierte außergerichtliche Streitbeilegungsstelle "
                           "({dispute_settlement}); ein Gericht."),
    NoticeKind.REVERSAL: ("Entscheidung aufgehoben ({reference})",
                          "Wir haben unsere Entscheidung zu {subject} nach unserer Regel „{policy}“ erneut geprüft und "
                          "aufgehoben. Unsere Entscheidung jetzt: {outcome}. Die Beschränkung wurde am {end_date} "
                          "aufgehoben.\n{explanation}"),
}


def install_default_dsa_mappings(*, actor: Actor | None = None) -> int:
    """Creates the mappings and reasons that do not exist yet (never
    overwrites an admin's). Returns how many were created."""
    actor = actor or Actor.system("install_dsa_defaults")
    created = 0
    outcomes = {o.code: o for o in Outcome.objects.filter(code__in=list(OUTCOME_MAPPINGS))}
    have = set(OutcomeMapping.objects.values_list("outcome_id", flat=True))
    for code, fields in OUTCOME_MAPPINGS.items():
        outcome = outcomes.get(code)
        if outcome is not None and outcome.pk not in have:
            dsa_config_save(obj=OutcomeMapping(outcome=outcome, **fields), actor=actor)
            created += 1
    have = set(PolicyMapping.objects.values_list("policy_id", flat=True))
    for policy in Policy.objects.exclude(pk__in=have):
        legal = ILLEGAL_POLICIES.get(policy.code)
        fields = {"category_specification": POLICY_SPECIFICATIONS.get(policy.code, []),
                  "territorial_scope": list(v.EEA_COUNTRIES)}
        if legal:
            fields.update(decision_ground=v.GROUND_ILLEGAL, illegal_content_legal_ground=legal,
                          illegal_content_explanation=policy.description or policy.name)
        else:
            fields.update(decision_ground=v.GROUND_INCOMPATIBLE,
                          incompatible_content_ground=f"Terms of service: {policy.name}"[:500],
                          incompatible_content_explanation=policy.description or policy.name)
        dsa_config_save(obj=PolicyMapping(policy=policy, **fields), actor=actor)
        created += 1
    have = set(PublicReason.objects.filter(policy__isnull=True).values_list("outcome_id", flat=True))
    for code, (text, text_de) in PUBLIC_REASONS.items():
        outcome = outcomes.get(code) or Outcome.objects.filter(code=code).first()
        if outcome is not None and outcome.pk not in have:
            dsa_config_save(obj=PublicReason(outcome=outcome, text=text, text_de=text_de), actor=actor)
            created += 1
    have = set(NoticeTemplate.objects.values_list("kind", "language"))
    for language, texts in (("en", FALLBACK), ("de", NOTICE_TEMPLATES_DE)):
        for kind, (subject, body) in texts.items():
            if (kind, language) not in have:
                dsa_config_save(obj=NoticeTemplate(kind=kind, language=language, subject=subject, body=body),
                                actor=actor)
                created += 1
    return created
