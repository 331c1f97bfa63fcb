from celery import shared_task

from .drift import rules_drift_sweep


@shared_task(ignore_result=True)
def rules_drift_task() -> int:
    """Periodic: measures active rules against the sampled human reviews."""
    return rules_drift_sweep()
