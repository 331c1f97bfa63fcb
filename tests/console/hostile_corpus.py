"""Hostile reported content for console tests: markup and script injection,
direction overrides, invisible characters, combining floods, huge texts.
Every entry must be shown exactly as text and never execute.

Script payloads call `window.__pwned(<name>)`; browser tests define that
function and fail if it is ever called."""

ZALGO = "Z" + "\u0336\u0337\u0338\u0321\u0322\u0327\u0328\u0334\u0335" * 40 + "algo"

XSS = [
    ("script-tag", '<script>window.__pwned("script-tag")</script>'),
    ("img-onerror", '<img src=x onerror="window.__pwned(\'img-onerror\')">'),
    ("svg-onload", '<svg onload="window.__pwned(\'svg-onload\')"></svg>'),
    ("attr-breakout", '"><script>window.__pwned("attr-breakout")</script>'),
    ("single-quote-breakout", "'><img src=x onerror=window.__pwned('single-quote-breakout')>"),
    ("iframe-srcdoc", '<iframe srcdoc="<script>parent.__pwned(\'iframe-srcdoc\')</script>"></iframe>'),
    ("javascript-url", "javascript:window.__pwned('javascript-url')"),
    ("template-injection", "{{ 7*7 }} {% now 'Y' %} ${7*7} #{7*7}"),
    ("htmx-attr", '<div hx-get="/work/" hx-trigger="load" hx-on::load="window.__pwned(\'htmx-attr\')">x</div>'),
    ("style-injection", "<style>body{display:none}</style>"),
    ("closing-textarea", "</textarea><script>window.__pwned('closing-textarea')</script>"),
    ("closing-title", "</title><script>window.__pwned('closing-title')</script>"),
    ("entity-encoded", "&lt;script&gt;window.__pwned('entity-encoded')&lt;/script&gt;"),
    ("null-byte", "before\u0000<script>window.__pwned('null-byte')</script>"),
]

UNICODE = [
    ("rtl-override", "\u202egnp.exe\u202c safe.txt"),
    ("arabic", "مرحبا بالعالم — هذا نص عربي"),
    ("hebrew-mixed", "שלום world 123"),
    ("zero-width", "pay\u200bpal\u200d.com \u2060admin\ufeff"),
    ("zalgo", ZALGO),
    ("emoji-zwj", "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family"),
]

BIG_TEXT = ("A" * 60 + " ") * 1650  # ~100 KB, long unbroken runs
LONG_WORD = "x" * 20_000  # one unbreakable "word"

ALL = XSS + UNICODE + [("100kb", BIG_TEXT), ("long-word", LONG_WORD)]

HOSTILE_URLS = [
    "javascript:window.__pwned('href')",
    "JaVaScRiPt:window.__pwned('href-case')",
    " javascript:window.__pwned('href-space')",
    "data:text/html,<script>window.__pwned('data-url')</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "https://user:pass@evil.example/",
]
