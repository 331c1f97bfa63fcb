# The console's fixtures (signed-in clients, cases filed through the real intake).
from tests.console.conftest import console_source, file_case, sign_in  # noqa: F401
