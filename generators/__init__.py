"""What writes the generated files: docs/configuration.md, the dashboard, openapi.json."""
