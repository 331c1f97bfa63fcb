"""Django's {# … #} comment ends on its own line: one spread over lines is
rendered as text (a "<main>" inside it became a second main landmark)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_template_comment_spans_lines():
    unclosed = []
    for template in sorted((ROOT / "console" / "templates").rglob("*.html")):
        for number, line in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
            if line.count("{#") > line.count("#}"):
                unclosed.append(f"{template.relative_to(ROOT)}:{number}")
    assert unclosed == [], "use {% comment %} … {% endcomment %} for comments over several lines"
