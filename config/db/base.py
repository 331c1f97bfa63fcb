"""Django's PostgreSQL backend, with a dropped persistent connection
noticed without a round trip.

CONN_HEALTH_CHECKS would send `SELECT 1` before the first query of every
request. Instead, at each request boundary (Django calls
close_if_unusable_or_obsolete when a request starts and ends) this backend
asks the operating system whether the idle connection's socket has anything
to read: a connection between requests has nothing to say, so readable means
the server closed it or sent its last message (a restart,
pg_terminate_backend, an idle timeout). Such a connection is closed, and the
next query opens a new one. A connection that dies in the small window after
that check fails its transaction; intake retries that transaction
(reviews.intake), other requests answer 500 and the connection is replaced.
"""

import select

from django.db.backends.postgresql import base


def socket_readable(pg_connection) -> bool:
    """True when the server sent something on an idle connection (or closed it)."""
    try:
        fileno = pg_connection.fileno()
    except Exception:  # psycopg raises when the connection is already closed
        return True
    readable, _, _ = select.select([fileno], [], [], 0)
    return bool(readable)


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_unusable_or_obsolete(self):
        super().close_if_unusable_or_obsolete()
        conn = self.connection
        if conn is not None and not self.in_atomic_block and (conn.closed or conn.broken or socket_readable(conn)):
            self.close()
