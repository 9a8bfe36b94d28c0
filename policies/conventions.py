"""The few mlserve conventions the pack checks, restated here once because the pack never imports
the program: physical names, tags, lifecycle values and the function environment. The program's
side of each rule lives in components/settings.py and components/lifecycle.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVICE_KEY = r"[a-z][a-z0-9-]{0,39}"
VERSION_KEY = r"v[1-9][0-9]*"
ENVIRONMENT_KEY = r"[a-z][a-z0-9-]{0,31}"
SERVICE = re.compile(rf"^{SERVICE_KEY}$")
VERSION = re.compile(rf"^{VERSION_KEY}$")
ENVIRONMENT = re.compile(rf"^{ENVIRONMENT_KEY}$")
NAME_PREFIX = re.compile(r"^[a-z0-9-]{0,32}$")
ALIAS_NAME = re.compile(rf"^({ENVIRONMENT_KEY})_({VERSION_KEY})$")
ROUTE_KEY = re.compile(
    rf"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /({SERVICE_KEY})/({VERSION_KEY})"
    r"(/[A-Za-z0-9._~-]+)+$"
)
LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(?::([$A-Za-z0-9_-]+))?$"
)
EXECUTE_API_ARN = re.compile(r"^arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:([a-z0-9]+)/(.+)$")

LIFECYCLES = ("active", "deprecated", "retired")
DEPLOYED_LIFECYCLES = ("active", "deprecated")
FUNCTION_NAME_LIMIT = 64
DEFAULT_DEPRECATION_WINDOW_DAYS = 180

TAG_SERVICE = "mlserve:service"
TAG_VERSION = "mlserve:api-version"
TAG_LIFECYCLE = "mlserve:lifecycle"
TAG_ENVIRONMENT = "mlserve:environment"
REQUIRED_TAGS = (TAG_SERVICE, TAG_VERSION, TAG_LIFECYCLE, TAG_ENVIRONMENT)

ENV_LIFECYCLE = "MLSERVE_LIFECYCLE"
ENV_DEPRECATED_ON = "MLSERVE_DEPRECATED_ON"
ENV_SUNSET_ON = "MLSERVE_SUNSET_ON"
ENV_SUCCESSOR_PATH = "MLSERVE_SUCCESSOR_PATH"

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
PERMISSION = "aws:lambda/permission:Permission"
ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
STAGE = "aws:apigatewayv2/stage:Stage"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
STACK = "pulumi:pulumi:Stack"

API_GATEWAY_PRINCIPAL = "apigateway.amazonaws.com"


@dataclass(frozen=True)
class VersionId:
    """A service's major version as named in resources, e.g. churn v2."""

    service: str
    version: str

    @property
    def major(self) -> int:
        """The major number, e.g. 2."""
        return int(self.version[1:])

    def __str__(self) -> str:
        return f"{self.service} {self.version}"


def function_name(name_prefix: str, service: str, version: str) -> str:
    """The Lambda function name of a service version, e.g. `dev-churn_v2`."""
    return f"{name_prefix}{service}_{version}"


def alias_name(environment: str, version: str) -> str:
    """The alias name of a version in an environment, e.g. `prod_v2`."""
    return f"{environment}_{version}"


def parse_function_name(name_prefix: str, name: str) -> VersionId | None:
    """The version a function name `<prefix><service>_v<N>` stands for, or None."""
    if not name.startswith(name_prefix):
        return None
    service, separator, version = name[len(name_prefix) :].rpartition("_")
    if not separator or not SERVICE.fullmatch(service) or not VERSION.fullmatch(version):
        return None
    return VersionId(service, version)


def function_name_of(reference: str) -> str:
    """A function name from what `functionName`/`function` accept: a name or an ARN."""
    match = LAMBDA_ARN.fullmatch(reference)
    return match.group(1) if match else reference
