"""`make bench`: throughput benchmarks of Quorum on the running stack.

See BENCHMARKS.md. bench/run.sh prepares the tools and runs `python -m bench`;
runner.py sets up a dedicated database and a gunicorn server, runs the
scenarios listed in scenarios/__init__.py, verifies the database against the
responses, prints a table and writes bench/results/latest.json.
"""
