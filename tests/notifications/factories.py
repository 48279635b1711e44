import factory

from notifications.kinds import Kind
from notifications.models import Channel, Notification, NotificationPreference
from tests.orgunits.factories import UserFactory


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = Kind.APPROVAL_REQUESTED
    channel = Channel.IN_APP
    subject = factory.Sequence(lambda n: f"Notification {n}")
    body = "Something happened."
    link = "/costs/1/"


class NotificationPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationPreference

    user = factory.SubFactory(UserFactory)
    kind = Kind.APPROVAL_REQUESTED
    channel = Channel.EMAIL
