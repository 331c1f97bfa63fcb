from django.urls import path
from django.views.generic import RedirectView

from .views import auth, case, insight, preferences, rules, statements, trust, work

app_name = "console"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:my-work"), name="home"),
    path("login/", auth.sign_in, name="login"),
    path("logout/", auth.sign_out, name="logout"),
    path("settings/", preferences.preferences, name="preferences"),
    # my work, queues, senior and appeal lists (views/work.py)
    path("work/", work.my_work, name="my-work"),
    path("work/claim/<slug:queue>/", work.claim_next, name="claim-next"),
    path("queues/<slug:queue>/", work.queue_list, name="queue"),
    path("escalations/", work.escalations, name="escalations"),
    path("appeals/", work.appeals, name="appeals"),
    # the case page and what can be done on it (views/case.py)
    path("cases/<uuid:case_id>/", case.case_page, name="case"),
    path("cases/<uuid:case_id>/vote/", case.vote, name="vote"),
    path("cases/<uuid:case_id>/claim/", case.claim, name="claim"),
    path("cases/<uuid:case_id>/escalate/", case.escalate, name="escalate"),
    path("cases/<uuid:case_id>/send-back/", case.send_back, name="send-back"),
    path("cases/<uuid:case_id>/hold/", case.hold, name="hold"),
    path("cases/<uuid:case_id>/resume/", case.resume, name="resume"),
    path("cases/<uuid:case_id>/assign/", case.assign, name="assign"),
    path("cases/<uuid:case_id>/release/", case.release, name="release"),
    path("cases/<uuid:case_id>/renew/", case.renew, name="renew"),
    path("cases/<uuid:case_id>/note/", case.note, name="note"),
    path("cases/<uuid:case_id>/media/<int:index>/reveal/", case.reveal_media, name="reveal-media"),
    # DSA statements of reasons (views/statements.py)
    path("cases/<uuid:case_id>/statement/preview/", statements.preview, name="statement-preview"),
    path("cases/<uuid:case_id>/statement/correct/", statements.correct, name="statement-correct"),
    path("cases/<uuid:case_id>/statement/rebuild/", statements.rebuild, name="statement-rebuild"),
    # supervisors and auditors (views/insight.py)
    path("dashboard/", insight.dashboard, name="dashboard"),
    path("audit/", insight.audit_search, name="audit"),
    path("audit/verify/<uuid:case_id>/", insight.audit_verify, name="audit-verify"),
    # rules for leads (views/rules.py)
    path("rules/", rules.rules_list, name="rules"),
    path("rules/new/", rules.rule_new, name="rule-new"),
    path("rules/<slug:slug>/", rules.rule_page, name="rule"),
    path("rules/<slug:slug>/draft/", rules.rule_save_draft, name="rule-draft"),
    path("rules/<slug:slug>/publish/", rules.rule_publish_draft, name="rule-publish"),
    path("rules/<slug:slug>/mode/", rules.rule_mode, name="rule-mode"),
    path("rules/<slug:slug>/backtests/", rules.rule_backtest_start, name="rule-backtest-start"),
    path("rules/<slug:slug>/backtests/<uuid:run_id>/", rules.rule_backtest_page, name="rule-backtest"),
    path("cases/<uuid:case_id>/make-rule/", rules.rule_from_case_view, name="rule-from-case"),
    # DSA Art. 22, 23 and the transparency report (views/trust.py)
    path("trust/", trust.trust_overview, name="trust"),
    path("trust/sanctions/<uuid:sanction_id>/confirm/", trust.sanction_confirm, name="sanction-confirm"),
    path("trust/sanctions/<uuid:sanction_id>/reject/", trust.sanction_reject, name="sanction-reject"),
    path("trust/sanctions/<uuid:sanction_id>/lift/", trust.sanction_lift, name="sanction-lift"),
    path("transparency/", trust.transparency, name="transparency"),
]
