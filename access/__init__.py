"""Access control around Django's auth: the sign-in limiter's key, its lockout
page, the acting user of a request, and the audit of every privilege change
(users, groups, permissions, passwords, sign-ins) from Django's signals —
DESIGN.md's one exception to "services own every write"."""
