"""What the AWS Serverless Application Repository accepts and asks of whoever deploys from it,
and the capabilities a deploy must acknowledge.

SAR_SUPPORTED is the developer guide's "List of Supported AWS Resources"
(awsdocs/aws-serverlessrepo-developer-guide, doc_source/list-supported-resources.md, commit
121ce438; the repository is archived, so the list is as of its last commit), read 2026-12-05.
SAR's publish-time checks have lagged newer resource types (aws-sam-cli #4543, #2645), so a type
missing here is unverified rather than known to fail: the rehearsal keeps the template on the list.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from checks.rehearsal import Finding

SOURCE = (
    "AWS Serverless Application Repository Developer Guide, List of Supported AWS Resources "
    "(read 2026-12-05)"
)
SAR_SUPPORTED = frozenset(
    {
        "AWS::ApiGateway::ApiKey",
        "AWS::ApiGateway::Authorizer",
        "AWS::ApiGateway::BasePathMapping",
        "AWS::ApiGateway::ClientCertificate",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::DocumentationPart",
        "AWS::ApiGateway::DocumentationVersion",
        "AWS::ApiGateway::DomainName",
        "AWS::ApiGateway::GatewayResponse",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Model",
        "AWS::ApiGateway::RequestValidator",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::UsagePlan",
        "AWS::ApiGateway::UsagePlanKey",
        "AWS::ApiGateway::VpcLink",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::ApiGatewayV2::Deployment",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::IntegrationResponse",
        "AWS::ApiGatewayV2::Model",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::RouteResponse",
        "AWS::ApiGatewayV2::Stage",
        "AWS::AppSync::ApiKey",
        "AWS::AppSync::DataSource",
        "AWS::AppSync::GraphQLApi",
        "AWS::AppSync::GraphQLSchema",
        "AWS::AppSync::Resolver",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::Athena::NamedQuery",
        "AWS::CertificateManager::Certificate",
        "AWS::CloudFormation::CustomResource",
        "AWS::CloudFormation::Macro",
        "AWS::CloudFormation::WaitConditionHandle",
        "AWS::CloudFront::CloudFrontOriginAccessIdentity",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::StreamingDistribution",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::CodeBuild::Project",
        "AWS::CodeCommit::Repository",
        "AWS::CodePipeline::CustomActionType",
        "AWS::CodePipeline::Pipeline",
        "AWS::CodePipeline::Webhook",
        "AWS::Cognito::IdentityPool",
        "AWS::Cognito::IdentityPoolRoleAttachment",
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolGroup",
        "AWS::Cognito::UserPoolUser",
        "AWS::Cognito::UserPoolUserToGroupAttachment",
        "AWS::Config::AggregationAuthorization",
        "AWS::Config::ConfigRule",
        "AWS::Config::ConfigurationAggregator",
        "AWS::Config::ConfigurationRecorder",
        "AWS::Config::DeliveryChannel",
        "AWS::DataPipeline::Pipeline",
        "AWS::DynamoDB::Table",
        "AWS::ECR::Repository",
        "AWS::Elasticsearch::Domain",
        "AWS::Events::EventBusPolicy",
        "AWS::Events::Rule",
        "AWS::Glue::Classifier",
        "AWS::Glue::Connection",
        "AWS::Glue::Crawler",
        "AWS::Glue::Database",
        "AWS::Glue::DevEndpoint",
        "AWS::Glue::Job",
        "AWS::Glue::Partition",
        "AWS::Glue::Table",
        "AWS::Glue::Trigger",
        "AWS::IAM::Group",
        "AWS::IAM::InstanceProfile",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::Policy",
        "AWS::IAM::Role",
        "AWS::IoT::Certificate",
        "AWS::IoT::Policy",
        "AWS::IoT::PolicyPrincipalAttachment",
        "AWS::IoT::Thing",
        "AWS::IoT::ThingPrincipalAttachment",
        "AWS::IoT::TopicRule",
        "AWS::KMS::Alias",
        "AWS::KMS::Key",
        "AWS::Kinesis::Stream",
        "AWS::Kinesis::StreamConsumer",
        "AWS::Kinesis::Streams",
        "AWS::KinesisAnalytics::Application",
        "AWS::KinesisAnalytics::ApplicationOutput",
        "AWS::KinesisFirehose::DeliveryStream",
        "AWS::Lambda::Alias",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::LayerVersionPermission",
        "AWS::Lambda::Permission",
        "AWS::Lambda::Version",
        "AWS::Logs::Destination",
        "AWS::Logs::LogGroup",
        "AWS::Logs::LogStream",
        "AWS::Logs::MetricFilter",
        "AWS::Logs::SubscriptionFilter",
        "AWS::Route53::HealthCheck",
        "AWS::Route53::HostedZone",
        "AWS::Route53::RecordSet",
        "AWS::Route53::RecordSetGroup",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::SSM::Association",
        "AWS::SSM::Document",
        "AWS::SSM::MaintenanceWindowTask",
        "AWS::SSM::Parameter",
        "AWS::SSM::PatchBaseline",
        "AWS::SSM::ResourceDataSync",
        "AWS::Serverless::Api",
        "AWS::Serverless::Application",
        "AWS::Serverless::Function",
        "AWS::Serverless::LayerVersion",
        "AWS::Serverless::SimpleTable",
        "AWS::StepFunctions::Activity",
        "AWS::StepFunctions::StateMachine",
    }
)
# Types the template needs that the archived list lacks: unverified for SAR, not known to fail.
# Each is allowed only while docs/deploying.md names it (says plainly that it is unverified), and
# only where it is conditional (a deploy with the defaults creates none of them).
UNVERIFIED = {
    "AWS::XRay::SamplingRule": "the stack's X-Ray sampling rule (Tracing=Active, the default "
    "TracingSampling); the list predates it",
}
# Resource types whose templates SAR deploys only with CAPABILITY_RESOURCE_POLICY
# (SAR Developer Guide, "Application capabilities"): they attach resource-based policies.
RESOURCE_POLICY_TYPES = frozenset(
    {
        "AWS::Lambda::Permission",
        "AWS::Lambda::LayerVersionPermission",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::S3::BucketPolicy",
        "AWS::Events::EventBusPolicy",
    }
)
IAM_TYPES = frozenset(
    {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::InstanceProfile"}
)
IAM_NAMES = ("RoleName", "ManagedPolicyName", "PolicyName", "InstanceProfileName", "GroupName")


def unsupported_by_sar(cfn: dict[str, Any], root: Path) -> list[Finding]:
    """Every resource of the translated template whose type SAR does not list, but for an
    UNVERIFIED one that is conditional and that docs/deploying.md names."""
    docs = (root / "docs" / "deploying.md").read_text(encoding="utf-8")
    found = []
    for logical_id, resource in cfn.get("Resources", {}).items():
        kind = resource.get("Type")
        if kind in SAR_SUPPORTED:
            continue
        if kind in UNVERIFIED and "Condition" in resource and f"`{kind}`" in docs:
            continue
        found.append(
            Finding(
                ("Resources", logical_id, "Type"),
                f"{kind} is not on SAR's list of supported resources ({SOURCE})",
            )
        )
    return found


# Properties of a SAM `Schedule` event that SAR's publish-time validation has refused
# (aws-sam-cli #2645, serverless-application-model #1931; not known to be fixed). The same
# settings on an AWS::Events::Rule's target are plain CloudFormation.
SCHEDULE_EVENT_REFUSED = ("RetryPolicy", "DeadLetterConfig")


def refused_schedule_options(sam: dict[str, Any]) -> list[Finding]:
    """Every SAM `Schedule` event (of the untranslated template) with a property SAR refused."""
    found = []
    for logical_id, resource in (sam.get("Resources") or {}).items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for name, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "Schedule":
                continue
            for option in SCHEDULE_EVENT_REFUSED:
                if option in (event.get("Properties") or {}):
                    found.append(
                        Finding(
                            ("Resources", logical_id, "Properties", "Events", name, option),
                            f"SAR's publish has refused {option} on a Schedule event "
                            "(aws-sam-cli #2645): write the AWS::Events::Rule, its target's "
                            f"{option} and the Lambda permission as resources instead",
                        )
                    )
    return found


def cloudformation_capabilities(cfn: dict[str, Any]) -> set[str]:
    """What `sam deploy` (a change set of the translated template) must acknowledge."""
    named = any(
        resource["Type"] in IAM_TYPES
        and resource["Type"] != "AWS::IAM::Policy"
        and any(name in resource.get("Properties", {}) for name in IAM_NAMES)
        for resource in cfn.get("Resources", {}).values()
    )
    has_iam = any(r["Type"] in IAM_TYPES for r in cfn.get("Resources", {}).values())
    return {"CAPABILITY_NAMED_IAM"} if named else {"CAPABILITY_IAM"} if has_iam else set()


def sar_capabilities(cfn: dict[str, Any]) -> set[str]:
    """What deploying the published application from SAR must acknowledge."""
    types = {resource["Type"] for resource in cfn.get("Resources", {}).values()}
    policies = {"CAPABILITY_RESOURCE_POLICY"} if types & RESOURCE_POLICY_TYPES else set()
    return cloudformation_capabilities(cfn) | policies


def unnamed_capabilities(cfn: dict[str, Any], root: Path) -> list[Finding]:
    """samconfig.toml's deploy must acknowledge what CloudFormation asks; docs/deploying.md
    must name everything SAR asks."""
    found = []
    deploy = tomllib.loads((root / "samconfig.toml").read_text(encoding="utf-8"))
    configured = set(str(deploy["default"]["deploy"]["parameters"]["capabilities"]).split())
    for missing in sorted(cloudformation_capabilities(cfn) - configured):
        found.append(Finding(("Resources",), f"samconfig.toml's deploy lacks {missing}"))
    readme = (root / "docs" / "deploying.md").read_text(encoding="utf-8")
    for missing in sorted(sar_capabilities(cfn) - set(re.findall(r"CAPABILITY_[A-Z_]+", readme))):
        found.append(Finding(("Resources",), f"docs/deploying.md does not name {missing}"))
    return found
