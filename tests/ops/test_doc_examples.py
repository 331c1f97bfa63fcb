"""The priorities the docs show are the ones the server computes: each
example report of README.md and docs/integrating.md is filed through the API
and its answer compared with the number printed after it."""

import json
import re
from pathlib import Path

import pytest

from cases.priority import case_priority

ROOT = Path(__file__).resolve().parents[2]
_BODY = re.compile(r"-d '(\{.*?\})'", re.S)
_PRIORITY = re.compile(r'"priority": (\d+)')


def documented_examples(text):
    """(request body, documented priority) for every `"priority": N` shown
    after a curl -d body: the body is the last one before it."""
    examples = []
    for shown in _PRIORITY.finditer(text):
        bodies = list(_BODY.finditer(text, 0, shown.start()))
        assert bodies, f"no request body before the priority at offset {shown.start()}"
        examples.append((json.loads(bodies[-1].group(1)), int(shown.group(1))))
    return examples


@pytest.mark.parametrize("doc", ["README.md", "docs/integrating.md"])
@pytest.mark.django_db
def test_the_priority_shown_for_an_example_report_is_what_the_server_answers(api, doc):
    examples = documented_examples((ROOT / doc).read_text(encoding="utf-8"))
    assert examples, f"{doc} shows no example priority"
    for index, (body, documented) in enumerate(examples):
        body["subject"]["external_id"] += f"-{doc}-{index}"  # a new case each
        response = api.post("/api/v1/reports", body, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["case"]["priority"] == documented, (doc, body)


def test_the_readme_worked_example_of_the_priority_formula_adds_up():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    worked = re.search(r"Example: a `hate` report.*?= (\d+) \+ (\d+) \+ (\d+) \+ (\d+) = (\d+)\.", text, re.S)
    assert worked, "the README's worked priority example moved; update this test"
    parts, total = [int(g) for g in worked.groups()[:4]], int(worked.group(5))
    assert sum(parts) == total
    # hate is severity 4; a user (1) and a trusted flagger (3); no classifier; 999 followers.
    assert case_priority(max_severity=4, reporter_weight=4, max_classifier_score=0, reach=999) == total
