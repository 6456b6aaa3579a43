"""Deployment helpers: automations and the files that stand up the AWS side."""
