"""Admin forms that write through the services: a refusal becomes a form error and nothing
is written."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from costtrack.core.exceptions import ApplicationError

from ..models import Cost


class ServiceFormMixin:
    """Runs the admin's service write inside ``clean()`` (in a savepoint), so a refusal
    becomes a form error and nothing is written; ``save_model`` then adopts the result.
    The admin's change view runs in one transaction, so a later failure rolls it back."""

    service_write = None  # set by ServiceAdminMixin.get_form

    def clean(self):
        cleaned = super().clean()
        if self.errors or self.service_write is None:
            return cleaned
        try:
            with transaction.atomic():
                self.saved_object = self.service_write(cleaned)
        except ApplicationError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, exc.message)
        except DjangoValidationError as exc:
            if hasattr(exc, "error_dict"):
                for name, errors in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, errors)
            else:
                self.add_error(None, exc.messages)
        return cleaned

    def _post_clean(self):
        # the service validated and wrote the row; the model form's own checks (e.g. the
        # uniqueness of what was just written) would now only trip over it
        if getattr(self, "saved_object", None) is None:
            super()._post_clean()


class ServiceAdminMixin:
    """``write(request, form, cleaned, change)`` returns the saved object."""

    def write(self, request, form, cleaned, change):
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class BoundServiceForm(form_class):
            def service_write(self, cleaned):
                return model_admin.write(request, self, cleaned, change)

        return BoundServiceForm

    def save_model(self, request, obj, form, change):
        saved = getattr(form, "saved_object", None)
        if saved is None:
            raise DjangoPermissionDenied("The form was not written through its service.")
        obj.pk = saved.pk
        obj._state.adding = False
        if not isinstance(obj, Cost):  # Cost.status is protected: no refresh in place
            obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # inlines here are read-only; nothing to write besides what the service wrote
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


def _changed(form, cleaned, allowed) -> dict:
    return {name: cleaned[name] for name in form.changed_data if name in allowed}


def _given(cleaned, allowed) -> dict:
    return {name: value for name, value in cleaned.items() if name in allowed}
