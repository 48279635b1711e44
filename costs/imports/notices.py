"""What billing imports tell people: the importer that an import finished, the approvers
that imported costs wait for them (one notification per import, not per cost)."""

from django.contrib.auth import get_user_model

from costtrack.core.roles import FINANCE

from ..models import ImportBatch
from .loader import LoadResult

User = get_user_model()


def notify(**kwargs) -> None:
    from notifications.services import notify

    notify(**kwargs)


def notify_finished(batch: ImportBatch) -> None:
    from notifications.kinds import Kind

    if batch.status == ImportBatch.Status.SUCCEEDED:
        subject = f"Import #{batch.pk} of {batch.file_name} succeeded"
        body = (
            f"{batch.imported_rows} rows became {batch.costs_created} costs "
            f"({batch.costs_auto_approved} approved automatically, {batch.costs_reversed} of "
            f"the replaced import reversed)."
        )
    else:
        subject = f"Import #{batch.pk} of {batch.file_name} failed"
        first = batch.errors[0] if batch.errors else {}
        body = f"{batch.error_count} error(s); nothing was imported. {first.get('message', '')}"
    notify(
        recipients=[batch.created_by],
        kind=Kind.IMPORT_FINISHED,
        subject=subject,
        body=body,
        link=f"/api/v1/imports/{batch.pk}/",
        payload={"import": batch.pk, "status": batch.status},
    )


def notify_approvers(batch: ImportBatch, result: LoadResult) -> None:
    from notifications.kinds import Kind

    recipients = list(User.objects.filter(pk__in=result.approver_ids, is_active=True))
    if result.finance_routed:
        recipients += list(User.objects.filter(groups__name=FINANCE, is_active=True))
    recipients = [u for u in recipients if u.pk != batch.created_by_id]
    if not recipients:
        return
    notify(
        recipients=recipients,
        kind=Kind.APPROVAL_REQUESTED,
        subject=f"Imported costs await your approval (import #{batch.pk})",
        body=f"{batch.file_name}: costs of billing account {batch.billing_account_id} for "
        f"{batch.billing_period_start:%Y-%m} wait for your decision as one batch.",
        link="/approvals/",
        payload={"import": batch.pk},
    )
