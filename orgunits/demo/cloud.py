"""Realistic provider ids for the demo cloud estate: ARNs, GCP resource names, Azure resource
ids and ``cluster/namespace/kind/workload`` for Kubernetes. Pure functions of a seeded RNG."""

import random
import uuid

from .data import (
    AWS_ACCOUNTS,
    AWS_REGIONS,
    AZURE_REGIONS,
    DEPARTMENTS,
    ENTITIES,
    ENVS,
    GCP_PROJECTS,
    GCP_REGIONS,
    K8S_CLUSTERS,
    PROVIDER_COUNTS,
    SAAS_ENTITIES,
    TEAMS,
)


def team_tags(team_code: str, env: str | None, app: str) -> dict[str, str]:
    department = next(t[2] for t in TEAMS if t[0] == team_code)
    cost_center = next(d[3] for d in DEPARTMENTS if d[0] == department)
    tags = {"team": team_code.removeprefix("team-"), "cost-center": cost_center, "app": app}
    if env:
        tags["env"] = env
    return tags


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _aws(rng, n, app, env):
    account, region = AWS_ACCOUNTS[env], rng.choice(AWS_REGIONS)
    kind = rng.choice(["ec2", "ec2", "rds", "s3", "lambda", "elb", "dynamodb"])
    name = f"{app}-{env}-{kind}-{n:03d}"
    ids = {
        "ec2": (f"arn:aws:ec2:{region}:{account}:instance/i-{_hex(rng, 17)}", "Amazon EC2"),
        "rds": (f"arn:aws:rds:{region}:{account}:db:{name}", "Amazon RDS"),
        "s3": (f"arn:aws:s3:::northwind-{name}", "Amazon S3"),
        "lambda": (f"arn:aws:lambda:{region}:{account}:function:{name}", "AWS Lambda"),
        "elb": (
            f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/"
            f"{_hex(rng, 16)}",
            "Elastic Load Balancing",
        ),
        "dynamodb": (f"arn:aws:dynamodb:{region}:{account}:table/{name}", "Amazon DynamoDB"),
    }
    provider_id, service = ids[kind]
    return provider_id, account, "" if kind == "s3" else region, service, name


def _gcp(rng, n, app, env):
    project, region = GCP_PROJECTS[env], rng.choice(GCP_REGIONS)
    kind = rng.choice(["vm", "vm", "bigquery", "gcs", "cloudsql"])
    name = f"{app}-{env}-{kind}-{n:03d}"
    zone = f"{region}-{rng.choice('bcd')}"
    ids = {
        "vm": (
            f"//compute.googleapis.com/projects/{project}/zones/{zone}/instances/{name}",
            "Compute Engine",
        ),
        "bigquery": (
            f"//bigquery.googleapis.com/projects/{project}/datasets/{name.replace('-', '_')}",
            "BigQuery",
        ),
        "gcs": (f"//storage.googleapis.com/projects/_/buckets/nw-{name}", "Cloud Storage"),
        "cloudsql": (f"//sqladmin.googleapis.com/projects/{project}/instances/{name}", "Cloud SQL"),
    }
    provider_id, service = ids[kind]
    return provider_id, project, region, service, name


def _azure(rng, n, app, env, subscriptions):
    subscription, region = subscriptions[env], rng.choice(AZURE_REGIONS)
    kind = rng.choice(["vm", "vm", "sql", "storage", "webapp"])
    name = f"{app}-{env}-{kind}-{n:03d}"
    group = f"/subscriptions/{subscription}/resourceGroups/rg-{app}-{env}/providers"
    ids = {
        "vm": (f"{group}/Microsoft.Compute/virtualMachines/{name}", "Virtual Machines"),
        "sql": (f"{group}/Microsoft.Sql/servers/sql-{app}-{env}/databases/{name}", "SQL Database"),
        "storage": (
            f"{group}/Microsoft.Storage/storageAccounts/st{app.replace('-', '')[:10]}{n:03d}",
            "Storage",
        ),
        "webapp": (f"{group}/Microsoft.Web/sites/{name}", "App Service"),
    }
    provider_id, service = ids[kind]
    return provider_id, subscription, region, service, name


def _k8s(rng, n, app, env):
    cluster, region = K8S_CLUSTERS[env]
    kind = rng.choice(["deployment", "deployment", "statefulset", "cronjob"])
    workload = f"{app}-{rng.choice(['api', 'worker', 'web', 'consumer'])}-{n:03d}"
    provider_id = f"{cluster}/{app}/{kind}/{workload}"
    service = {"deployment": "Deployment", "statefulset": "StatefulSet", "cronjob": "CronJob"}
    return provider_id, cluster, region, f"Kubernetes {service[kind]}", workload


def plan_resources(rng: random.Random) -> list[dict]:
    subscriptions = {
        env: str(uuid.UUID(int=rng.getrandbits(128), version=4))
        for env in ("prod", "staging", "dev")
    }
    apps = [(app, team) for _, _, team, app in ENTITIES if app not in SAAS_ENTITIES]
    plans, n = [], 0
    for provider, count in PROVIDER_COUNTS.items():
        for _ in range(count):
            app, team = apps[n % len(apps)]
            env = rng.choice(ENVS)
            if provider == "aws":
                generated = _aws(rng, n, app, env)
            elif provider == "gcp":
                generated = _gcp(rng, n, app, env)
            elif provider == "azure":
                generated = _azure(rng, n, app, env, subscriptions)
            else:
                generated = _k8s(rng, n, app, env)
            provider_id, account, region, service, name = generated
            plans.append(
                {
                    "provider": provider,
                    "provider_resource_id": provider_id,
                    "account": account,
                    "region": region,
                    "service": service,
                    "name": name,
                    "app": app,
                    "team": team,
                    "tags": team_tags(team, env, app),
                }
            )
            n += 1
    return plans
