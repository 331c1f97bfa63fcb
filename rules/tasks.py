from celery import shared_task

from .backtest_runs import backtest_run_execute, backtest_runs_sweep
from .drift import rules_drift_sweep


@shared_task(ignore_result=True)
def rules_drift_task() -> int:
    """Periodic: measures active rules against the sampled human reviews."""
    return rules_drift_sweep()


@shared_task(ignore_result=True)
def backtest_run_task(run_id: str, attempt: int) -> str:
    """One backtest run (rules.backtest_runs); a redelivery or a stale attempt does nothing."""
    return backtest_run_execute(run_id=run_id, attempt=attempt)


@shared_task(ignore_result=True)
def backtest_runs_sweep_task() -> int:
    """Periodic: re-queues or fails the runs whose worker was lost."""
    return backtest_runs_sweep()
