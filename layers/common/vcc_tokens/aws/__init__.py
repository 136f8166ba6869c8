"""The adapters to AWS: the SDK's clients, the token cache (DynamoDB), the credentials
(Secrets Manager), the entitlement rules (SSM), the health log, sealing (KMS) and the hand-over
to the refresher (Lambda)."""
