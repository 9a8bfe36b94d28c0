"""What only the pack needs besides the shared conventions: the resource types it inspects and the
shapes of the ARNs and principals it reads. (conventions.py next to it is a vendored, byte-for-byte
copy of services/runtime/mlserve_runtime/conventions.py; never edit it here.)"""

from __future__ import annotations

import re

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
PERMISSION = "aws:lambda/permission:Permission"
ROUTE = "aws:apigatewayv2/route:Route"
API = "aws:apigatewayv2/api:Api"
API_MAPPING = "aws:apigatewayv2/apiMapping:ApiMapping"
DOMAIN = "aws:apigatewayv2/domainName:DomainName"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
STAGE = "aws:apigatewayv2/stage:Stage"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LAYER = "aws:lambda/layerVersion:LayerVersion"
ROLE = "aws:iam/role:Role"
STACK = "pulumi:pulumi:Stack"
QUEUE = "aws:sqs/queue:Queue"
EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"

API_GATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(?::([$A-Za-z0-9_-]+))?$"
)
QUEUE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:([A-Za-z0-9_.-]{1,80})$"
)  # .fifo too
EXECUTE_API_ARN = re.compile(r"^arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:([a-z0-9]+)/(.+)$")


def function_name_of(reference: str) -> str:
    """A function name from what `functionName`/`function` accept: a name or an ARN."""
    match = LAMBDA_ARN.fullmatch(reference)
    return match.group(1) if match else reference
