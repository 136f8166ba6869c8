"""The token API's own shapes, for the vend function only: the OpenAPI response maps, the REST
resolver and the OAuth 2.0 token endpoint."""
