"""Releasing: publishing the built application to the Serverless Application Repository."""
