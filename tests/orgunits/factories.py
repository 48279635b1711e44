import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from orgunits import services
from orgunits.models import Entity, Membership, OrganizationUnit, Resource


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pass-1234")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            for name in extracted:
                # get_or_create: transactional tests flush the groups the data migration made.
                self.groups.add(Group.objects.get_or_create(name=name)[0])


def finance_user(**kwargs):
    return UserFactory(groups=["finance"], **kwargs)


def auditor_user(**kwargs):
    return UserFactory(groups=["auditor"], **kwargs)


class OrganizationUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganizationUnit

    name = factory.Sequence(lambda n: f"Unit {n}")
    code = factory.Sequence(lambda n: f"unit-{n}")
    parent = None
    owner = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.unit_create(**kwargs)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    unit = factory.SubFactory(OrganizationUnitFactory)
    role = Membership.Role.MEMBER


class EntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entity

    name = factory.Sequence(lambda n: f"Entity {n}")
    kind = Entity.Kind.APPLICATION
    organization_unit = factory.SubFactory(OrganizationUnitFactory)
    tags = factory.LazyFunction(dict)


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resource

    provider = Resource.Provider.AWS
    provider_resource_id = factory.Sequence(
        lambda n: f"arn:aws:ec2:eu-west-1:123456789012:instance/i-{n:08x}"
    )
    account = "123456789012"
    region = "eu-west-1"
    service = "Amazon EC2"
    name = factory.Sequence(lambda n: f"resource-{n}")
    organization_unit = factory.SubFactory(OrganizationUnitFactory)
    tags = factory.LazyFunction(dict)
