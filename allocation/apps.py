from django.apps import AppConfig


class AllocationConfig(AppConfig):
    name = "allocation"

    def ready(self) -> None:
        from costs.extensions import register_period_close_step, register_rate_change_hook
        from costtrack.core.jobs import register_reaper

        from .services import allocation_runs_reap, schedule_revenue_reconvert

        register_period_close_step("allocation", allocate_closing_period)
        register_reaper("allocation_runs", allocation_runs_reap)
        register_rate_change_hook(schedule_revenue_reconvert)


def allocate_closing_period(*, period, acting_user) -> dict:
    """Close step of an accounting period: its allocation run, with loss carried forward.

    Idempotent through the run's input fingerprint: a close that is run again gets the same
    run back. A graph the engine refuses stops the close (409) with the engine's reason.
    """
    from costtrack.core.exceptions import Conflict
    from costtrack.core.money import round_money

    from .models import AllocationRun
    from .services import allocation_run

    run = allocation_run(period_start=period.start, period_end=period.end, acting_user=acting_user)
    if run.status != AllocationRun.Status.SUCCEEDED:
        raise Conflict(
            f"The allocation of the period {period.label} failed: {run.error}",
            code="allocation_failed",
        )
    totals = ("raw_total", "allocated_total", "unallocated_total", "carried_forward_total")
    return {
        "run_id": run.pk,
        "currency": run.currency,
        **{name: str(round_money(getattr(run, name), run.currency)) for name in totals},
    }
