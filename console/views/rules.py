"""Rules for leads: the list, a rule's page (edit the draft with its
validation errors, publish, mode, backtest, shadow results) and "make a rule
from this case". Each POST calls one service of `rules`."""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.context import Actor
from cases.visibility import case_access
from reviews.models import Outcome
from rules import selectors
from rules.backtest import NO_MATCH
from rules.backtest_runs import backtest_run_start
from rules.errors import RuleInvalid, RuleNotAllowed
from rules.from_case import NotDecided, rule_from_case
from rules.models import Rule, RuleMode
from rules.services import rule_create, rule_draft_save, rule_mode_set, rule_publish

from ..decorators import console_view

BACKTEST_DAYS = 30


def _outcome_choices():
    return [(o.code, o.code) for o in Outcome.objects.filter(active=True).order_by("position", "code")]


class RuleDraftForm(forms.Form):
    expression = forms.CharField(label=gettext_lazy("Condition (CEL)"), widget=forms.Textarea(attrs={"rows": 5}),
                                 max_length=4000)
    effects = forms.CharField(label=gettext_lazy("Effects (JSON list)"), widget=forms.Textarea(attrs={"rows": 3}),
                              required=False, max_length=4000)
    predicts = forms.ChoiceField(label=gettext_lazy("Outcome a match stands for"))
    description = forms.CharField(label=gettext_lazy("Description"), required=False, max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    agreement_threshold = forms.FloatField(label=gettext_lazy("Agreement threshold (0–1)"), min_value=0, max_value=1,
                                           initial=0.9)
    sample_share = forms.FloatField(label=gettext_lazy("Share sampled into human review (0–1)"), min_value=0,
                                    max_value=1, initial=0.1)
    fallback_to_shadow = forms.BooleanField(label=gettext_lazy("Fall back to shadow when agreement drops"),
                                            required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["predicts"].choices = _outcome_choices()

    def clean_effects(self):
        text = self.cleaned_data["effects"].strip() or "[]"
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from None


class NewRuleForm(RuleDraftForm):
    slug = forms.SlugField(label=gettext_lazy("Slug"), max_length=50)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)

    field_order = ["slug", "name"]

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if Rule.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("A rule with this slug exists."))
        return slug


class ModeForm(forms.Form):
    mode = forms.ChoiceField(label=gettext_lazy("Mode"), choices=RuleMode.choices)


class BacktestForm(forms.Form):
    days = forms.IntegerField(label=gettext_lazy("Decided in the last (days)"), min_value=1, max_value=365,
                              initial=BACKTEST_DAYS)


def _draft_data(form):
    data = form.cleaned_data
    return dict(expression=data["expression"], effects=data["effects"], predicts=data["predicts"],
                description=data["description"], agreement_threshold=data["agreement_threshold"],
                sample_share=data["sample_share"], fallback_to_shadow=data["fallback_to_shadow"])


def _add_problems(form, problems):
    for field, reasons in problems.items():
        for reason in reasons:
            form.add_error(field if field in form.fields else None, reason)


def _get_rule(slug):
    rule = Rule.objects.select_related("published_version").filter(slug=slug).first()
    if rule is None:
        raise Http404
    return rule


@console_view(require="is_lead")
@require_GET
def rules_list(request):
    return render(request, "console/rules/list.html", {
        "nav": "rules", "rules": selectors.rules_for_list(), "drifting": selectors.rules_drifting()})


@console_view(require="is_lead")
@require_http_methods(["GET", "POST"])
def rule_new(request):
    form = NewRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actor = Actor.user(request.user)
        try:
            with _atomic():
                rule = rule_create(slug=form.cleaned_data["slug"], name=form.cleaned_data["name"], actor=actor)
                rule_draft_save(rule=rule, actor=actor, user=request.user, **_draft_data(form))
        except RuleInvalid as exc:
            _add_problems(form, exc.problems)
        except (IntegrityError, ValidationError):  # another lead took the slug a moment ago
            form.add_error("slug", _("A rule with this slug exists."))
        else:
            messages.success(request, _("Draft saved."))
            return redirect("console:rule", slug=rule.slug)
    status = 400 if request.method == "POST" else 200
    return render(request, "console/rules/new.html", {"nav": "rules", "form": form}, status=status)


def _atomic():
    from django.db import transaction

    return transaction.atomic()


def _rule_context(request, rule, *, draft_form=None, backtest_form=None):
    draft = selectors.rule_draft(rule)
    source = draft or rule.published_version
    if draft_form is None:
        initial = {}
        if source is not None:
            initial = {"expression": source.expression, "effects": json.dumps(source.effects),
                       "predicts": source.predicts, "description": source.description,
                       "agreement_threshold": source.agreement_threshold, "sample_share": source.sample_share,
                       "fallback_to_shadow": source.fallback_to_shadow}
        draft_form = RuleDraftForm(initial=initial)
    return {
        "nav": "rules", "rule": rule, "draft": draft, "versions": selectors.versions_with_backtests(rule),
        "draft_form": draft_form, "mode_form": ModeForm(initial={"mode": rule.mode}),
        "backtest_form": backtest_form or BacktestForm(initial={"days": BACKTEST_DAYS}),
        "backtests": selectors.rule_backtests(rule),
        "shadow_hits": selectors.rule_recent_hits(rule, mode=RuleMode.SHADOW),
        "active_hits": selectors.rule_recent_hits(rule, mode=RuleMode.ACTIVE),
    }


@console_view(require="is_lead")
@require_GET
def rule_page(request, slug):
    rule = _get_rule(slug)
    return render(request, "console/rules/rule.html", _rule_context(request, rule))


@console_view(require="is_lead")
@require_POST
def rule_backtest_start(request, slug):
    """Queues a backtest of the draft (or the published version) and opens its page."""
    rule = _get_rule(slug)
    form = BacktestForm(request.POST)
    version = selectors.rule_draft(rule) or rule.published_version
    if form.is_valid() and version is None:
        form.add_error(None, _("There is no version to backtest: save a draft first."))
    if form.is_valid():
        try:
            run = backtest_run_start(version=version, days=form.cleaned_data["days"],
                                     actor=Actor.user(request.user), user=request.user)
        except RuleInvalid as exc:
            _add_problems(form, {"days" if "days" in exc.problems else "__all__": sum(exc.problems.values(), [])})
        except RuleNotAllowed as exc:
            form.add_error(None, _("Not started: %(reason)s") % {"reason": exc})
        else:
            return redirect("console:rule-backtest", slug=rule.slug, run_id=run.pk)
    return render(request, "console/rules/rule.html", _rule_context(request, rule, backtest_form=form), status=400)


@console_view(require="is_lead")
@require_GET
def rule_backtest_page(request, slug, run_id):
    """A backtest run: its progress while it runs (the page polls itself), then its results."""
    rule = _get_rule(slug)
    run = selectors.backtest_run(rule=rule, run_id=run_id)
    if run is None:
        raise Http404
    return render(request, "console/rules/backtest.html",
                  {"nav": "rules", "rule": rule, "run": run, "result": run.results, "no_match": NO_MATCH})


@console_view(require="is_lead")
@require_POST
def rule_save_draft(request, slug):
    rule = _get_rule(slug)
    form = RuleDraftForm(request.POST)
    if form.is_valid():
        try:
            rule_draft_save(rule=rule, actor=Actor.user(request.user), user=request.user, **_draft_data(form))
        except RuleInvalid as exc:
            _add_problems(form, exc.problems)
        else:
            messages.success(request, _("Draft saved."))
            return redirect("console:rule", slug=rule.slug)
    return render(request, "console/rules/rule.html", _rule_context(request, rule, draft_form=form), status=400)


@console_view(require="is_lead")
@require_POST
def rule_publish_draft(request, slug):
    rule = _get_rule(slug)
    draft = selectors.rule_draft(rule)
    if draft is None:
        messages.error(request, _("There is no draft to publish."))
        return redirect("console:rule", slug=rule.slug)
    try:
        rule_publish(version=draft, actor=Actor.user(request.user))
    except (RuleInvalid, RuleNotAllowed) as exc:
        messages.error(request, _("Not published: %(reason)s") % {"reason": exc})
    else:
        messages.success(request, _("Version %(number)s published.") % {"number": draft.number})
    return redirect("console:rule", slug=rule.slug)


@console_view(require="is_lead")
@require_POST
def rule_mode(request, slug):
    rule = _get_rule(slug)
    form = ModeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a mode."))
        return redirect("console:rule", slug=rule.slug)
    rule_mode_set(rule=rule, mode=form.cleaned_data["mode"], actor=Actor.user(request.user), reason="console")
    messages.success(request, _("Mode changed."))
    return redirect("console:rule", slug=rule.slug)


@console_view(require="is_lead")
@require_POST
def rule_from_case_view(request, case_id):
    if case_access(case_id=case_id, user=request.user) != "visible":
        raise Http404
    try:
        rule = rule_from_case(case_id=case_id, actor=Actor.user(request.user), user=request.user)
    except (NotDecided, RuleInvalid) as exc:
        messages.error(request, _("No rule made: %(reason)s") % {"reason": exc})
        return redirect("console:case", case_id=case_id)
    try:
        run = backtest_run_start(version=selectors.rule_draft(rule), days=BACKTEST_DAYS,
                                 actor=Actor.user(request.user), user=request.user)
    except (RuleInvalid, RuleNotAllowed) as exc:
        messages.warning(request, _("Draft made from the case; no backtest started: %(reason)s") % {"reason": exc})
        return redirect("console:rule", slug=rule.slug)
    messages.success(request, _("Draft made from the case; backtest over the last %(days)s days started.")
                     % {"days": BACKTEST_DAYS})
    return redirect("console:rule-backtest", slug=rule.slug, run_id=run.pk)
