"""A model service: one VersionedFunction per major version that is not retired."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.ledger import ledger_entry
from components.settings import ServiceSettings, Settings
from components.versioned_function import VersionedFunction, VersionedFunctionArgs
from mlserve_runtime.conventions import image_repository


@dataclass(frozen=True)
class ModelServiceArgs:
    """Inputs of a ModelService."""

    settings: Settings
    service: ServiceSettings
    layer_arns: dict[tuple[str, str], pulumi.Output[str]]
    layer_sha256s: dict[tuple[str, str], str]
    """Dependency layer ARN by (runtime, architecture)."""


class ModelService(pulumi.ComponentResource):
    """All deployed major versions of one service; retired versions create nothing."""

    versions: dict[str, VersionedFunction]
    """The deployed versions by key (`v2`)."""
    ledger: dict[str, dict[str, Any]]
    """Every version's ledger entry (retired ones included), for the `versions` output."""
    repository: aws.ecr.Repository | None
    """The ECR repository of the service's image versions, when it has any."""

    def __init__(
        self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:service:ModelService", name, None, opts)
        self.repository, pull_policy = _image_repository(args.settings, args.service, self)
        self.versions = {
            version.key: VersionedFunction(
                version.logical_name,
                VersionedFunctionArgs(
                    settings=args.settings,
                    version=version,
                    layer_arn=(
                        None
                        if version.image is not None
                        else args.layer_arns[(version.runtime, version.architecture)]
                    ),
                    # Lambda pulls the image when it creates the function: the policy comes first
                    needs=[pull_policy] if version.image is not None and pull_policy else [],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for version in args.service.deployed_versions
        }
        self.ledger = {
            version.key: (
                ledger_entry(
                    version,
                    served=deployed.served_version,
                    published=deployed.function.version,
                    code_sha256=deployed.code_sha256,
                    revision=deployed.revision,
                    layer_sha256=args.layer_sha256s[(version.runtime, version.architecture)]
                    if version.image is None
                    else None,
                )
                if (deployed := self.versions.get(version.key)) is not None
                else ledger_entry(version)
            )
            for version in args.service.versions.values()
        }
        self.register_outputs({})


UNTAGGED_DAYS = 14  # untagged images older than this expire


def _image_repository(
    settings: Settings, service: ServiceSettings, parent: pulumi.Resource
) -> tuple[aws.ecr.Repository | None, aws.ecr.RepositoryPolicy | None]:
    """The service's ECR repository when a deployed version is an image: tags IMMUTABLE (a tag,
    once pushed, names one digest forever), scanned on push, expiring only untagged images, and
    open to Lambda's pulls for this service's functions only."""
    homes = [v.image_repository for v in service.deployed_versions if v.image_repository]
    if not homes:
        return None, None
    account, region, _ = homes[0]  # the checks put every image in the stack's repository
    child = pulumi.ResourceOptions(parent=parent)
    repository = aws.ecr.Repository(
        f"{service.key}-images",
        name=image_repository(settings.name_prefix, service.key),
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration={"scan_on_push": True},
        tags={"mlserve:service": service.key, "mlserve:environment": settings.environment},
        # a deployed version's image must stay: the engine refuses to delete the repository
        # while an active version runs from it (and ECR refuses while it holds images)
        opts=pulumi.ResourceOptions(
            parent=parent,
            protect=any(v.status == "active" and v.image for v in service.deployed_versions),
        ),
    )
    aws.ecr.LifecyclePolicy(
        f"{service.key}-images-lifecycle",
        repository=repository.name,
        policy=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": f"expire untagged images after {UNTAGGED_DAYS} days; "
                        "tagged images (every pushed release) never expire",
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": UNTAGGED_DAYS,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
        opts=child,
    )
    functions = f"arn:aws:lambda:{region}:{account}:function:{settings.name_prefix}{service.key}_v*"
    pull_policy = aws.ecr.RepositoryPolicy(
        f"{service.key}-images-policy",
        repository=repository.name,
        policy=json.dumps(
            {
                "Version": "2008-10-17",
                "Statement": [
                    {
                        "Sid": "LambdaPullsThisServicesFunctions",
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                        "Condition": {"StringLike": {"aws:sourceArn": functions}},
                    }
                ],
            }
        ),
        opts=child,
    )
    return repository, pull_policy
