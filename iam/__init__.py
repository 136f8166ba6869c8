"""What AWS would decide, offline: template.yaml expanded as SAM and CloudFormation would
(`deployment`), and each AWS request evaluated against the expanded policies by a maintained IAM
policy evaluator, @cloud-copilot/iam-simulate, run on Node.js from the Python package index
(`evaluation`). The project's own code only expands, records and maps; IAM's logic is the
evaluator's. Used by the offline IAM proof (tests/integration/test_iam_proof.py) and by the local
API front, which applies the API's resource policy as API Gateway would.
"""
